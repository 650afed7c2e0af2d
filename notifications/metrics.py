"""What notifications counts for Prometheus (served by config.metrics with the rest):
messages reaching a status, and requests Twilio refused. No label carries personal
data: channels and statuses are fixed choices, Twilio's answers HTTP statuses."""

from __future__ import annotations

from prometheus_client import Counter

MESSAGES = Counter(
    "clinic_messages",
    "Messages that reached a status (pending, scheduled, sent, delivered, "
    "undelivered, failed, suppressed), by channel.",
    ["channel", "status"],
)
TWILIO_ERRORS = Counter(
    "clinic_twilio_errors",
    "Requests to Twilio that failed, by HTTP status (network: no answer).",
    ["status"],
)
