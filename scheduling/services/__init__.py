"""Scheduling's write paths. Other modules import from here.

- ``callbacks``: routing each new submission, the queue, calls and outcomes, escalation
- ``consultations``: booking, confirming, reminding, cancelling, attendance
- ``alerts``: staff alerts raised, emailed, acknowledged and settled; assignment notices
- ``crisis``: the crisis cadence of unanswered calls and the supervisor's decision
"""

from __future__ import annotations

from scheduling.services.alerts import staff_alert_acknowledge, staff_notices_seen
from scheduling.services.callbacks import (
    CLOSING_OUTCOMES,
    CONFIRMATION_PER_ADDRESS_WINDOW,
    attempt_log,
    call_enqueue,
    call_missed_route,
    call_route,
    callback_assign,
    callback_claim_next,
    callback_leases_expire,
    callback_mark_replied,
    callback_release,
    callback_renew,
    callbacks_escalate,
    lead_sms_reply,
    lead_work_erase,
    reply_enqueue,
    reply_route,
    retry_at_for,
    submission_enqueue,
    submission_route,
)
from scheduling.services.consultations import (
    appointment_admit,
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_ics,
    appointment_mark,
    appointment_reminders_send,
    appointment_reply,
    appointment_reschedule_request,
    callback_book,
    request_cancel,
    submission_cancel,
    submission_links_revoke,
    submission_restrict,
)
from scheduling.services.crisis import callback_crisis_decide

__all__ = [
    "CLOSING_OUTCOMES",
    "CONFIRMATION_PER_ADDRESS_WINDOW",
    "appointment_admit",
    "appointment_book",
    "appointment_cancel",
    "appointment_confirm",
    "appointment_ics",
    "appointment_mark",
    "appointment_reminders_send",
    "appointment_reply",
    "appointment_reschedule_request",
    "attempt_log",
    "call_enqueue",
    "call_missed_route",
    "call_route",
    "callback_assign",
    "callback_book",
    "callback_claim_next",
    "callback_crisis_decide",
    "callback_leases_expire",
    "callback_mark_replied",
    "callback_release",
    "callback_renew",
    "callbacks_escalate",
    "lead_sms_reply",
    "lead_work_erase",
    "reply_enqueue",
    "reply_route",
    "request_cancel",
    "retry_at_for",
    "staff_alert_acknowledge",
    "staff_notices_seen",
    "submission_cancel",
    "submission_enqueue",
    "submission_links_revoke",
    "submission_restrict",
    "submission_route",
]
