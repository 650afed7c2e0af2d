"""Outbound webhooks: a lead's stage changes, queued for the clinic's EMR or CRM.

Every stage change of a lead (``lead_stage_advance``: contacted, consultation booked,
attended, admitted, closed; ``lead_reopen``; and the admissions steps of
``lead_stage_reach``: screened, insurance verified, waitlisted) calls
:func:`lead_stage_webhooks_enqueue` in its own transaction. It writes one
``WebhookDelivery`` per endpoint of ``WEBHOOK_ENDPOINTS`` (``WEBHOOK_URLS``), all with
one event id, and hands them to the workers after commit
(``intake.services.webhook_delivery`` sends them, signed, at least once).

What a body carries (:func:`webhook_body`): the event id and type, the lead's id and
reference (its first request's), the stage, when it was reached and the
appointment's id if the change came with one: ids and stages. Never a name, phone,
email, message, note, closing reason or clinical answer. An endpoint marked as a
covered system (``covered+https://...``) also gets the article slug of the first
request (an article on antidepressants says what the person may be treated for) and
the lead's latest PHQ-9 and GAD-7 score and band as of the event: the least a
receiving EMR needs to place the person, read from the encrypted screenings and
recorded on the audit trail as a read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.audit import events
from clinic.workers import enqueue
from intake.models import SCREENING_READ, Screening, Submission, WebhookDelivery

STAGE_REACHED = "lead.stage_reached"
REOPENED = "lead.reopened"
DELIVER_TASK = "intake.tasks.webhook_deliver"


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    covered: bool


def webhook_endpoints() -> list[WebhookEndpoint]:
    """The configured endpoints (``WEBHOOK_URLS``), read at each use; a URL given twice
    is one endpoint (the first entry's), as a delivery is unique per event and URL."""
    endpoints: dict[str, WebhookEndpoint] = {}
    for entry in getattr(settings, "WEBHOOK_ENDPOINTS", []):
        endpoints.setdefault(
            entry["url"], WebhookEndpoint(url=entry["url"], covered=bool(entry["covered"]))
        )
    return list(endpoints.values())


def webhook_endpoint(url: str) -> WebhookEndpoint | None:
    """The configured endpoint of ``url``, or None when it is no longer configured."""
    return next((endpoint for endpoint in webhook_endpoints() if endpoint.url == url), None)


def lead_stage_webhooks_enqueue(
    *,
    lead_id: int,
    stage: str,
    at: datetime,
    appointment_id: int | None = None,
    event_type: str = STAGE_REACHED,
) -> list[int]:
    """Queue one event (a lead reached ``stage`` at ``at``) for every configured
    endpoint, in the caller's transaction, and hand the deliveries to the workers once
    it commits (if the broker is down then, the sweep sends them). Returns the
    deliveries' ids; none when no endpoint is configured. Callers call it once per
    change: the services that move stages return early when nothing changed."""
    endpoints = webhook_endpoints()
    if not endpoints:
        return []
    now = timezone.now()
    first = WebhookDelivery(
        event_type=event_type,
        endpoint=endpoints[0].url,
        lead_id=lead_id,
        stage=str(stage),
        stage_at=at,
        appointment_id=appointment_id,
        next_attempt_at=now,
    )
    deliveries = [first] + [
        WebhookDelivery(
            event_id=first.event_id,
            event_type=event_type,
            endpoint=endpoint.url,
            lead_id=lead_id,
            stage=str(stage),
            stage_at=at,
            appointment_id=appointment_id,
            next_attempt_at=now,
        )
        for endpoint in endpoints[1:]
    ]
    ids = [delivery.pk for delivery in WebhookDelivery.objects.bulk_create(deliveries)]
    for delivery_id in ids:
        transaction.on_commit(
            lambda delivery_id=delivery_id: enqueue(DELIVER_TASK, delivery_id), robust=True
        )
    return ids


def _moment(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _first_request(lead_id: int) -> tuple[str | None, str | None]:
    """The reference and article slug of the lead's first real request."""
    first = (
        Submission.objects.filter(lead_id=lead_id, is_spam=False)
        .order_by("created_at", "pk")
        .values_list("reference", "article__slug")
        .first()
    )
    return (first[0], first[1]) if first else (None, None)


def _screening_scores(delivery: WebhookDelivery) -> list[dict[str, Any]]:
    """The latest score and band of each instrument as of the event (so every try
    sends the same), for a covered endpoint; each screening read is audited. Erased
    screenings (blank score) are left out."""
    latest: dict[str, Screening] = {}
    for screening in Screening.objects.filter(
        lead_id=delivery.lead_id, created_at__lte=delivery.stage_at
    ).order_by("-created_at", "-pk"):
        if screening.instrument not in latest and screening.score:
            latest[screening.instrument] = screening
    shown = sorted(latest.values(), key=lambda screening: screening.instrument)
    if shown:
        # As intake.services.screenings_access_record (which imports this module's
        # callers): one read event per screening sent.
        events.events_record(
            shown,
            label=SCREENING_READ,
            read="webhook",
            endpoint=delivery.endpoint,
            event=str(delivery.event_id),
        )
    return [
        {
            "instrument": screening.instrument,
            "score": screening.score_value,
            "band": screening.band,
            "at": _moment(screening.created_at),
        }
        for screening in shown
    ]


def webhook_body(delivery: WebhookDelivery, *, covered: bool) -> bytes:
    """The JSON body of a delivery, as bytes (what is signed is what is sent): the same
    bytes on every try, keys sorted, no white space."""
    reference, article = _first_request(delivery.lead_id)
    body: dict[str, Any] = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "lead": {"id": delivery.lead_id, "reference": reference},
        "stage": delivery.stage,
        "at": _moment(delivery.stage_at),
        "appointment": {"id": delivery.appointment_id} if delivery.appointment_id else None,
    }
    if covered:
        body["article"] = article
        body["screenings"] = _screening_scores(delivery)
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


__all__ = [
    "REOPENED",
    "STAGE_REACHED",
    "WebhookEndpoint",
    "lead_stage_webhooks_enqueue",
    "webhook_body",
    "webhook_endpoint",
    "webhook_endpoints",
]
