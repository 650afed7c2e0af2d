"""Sending outbound webhooks (queued by ``intake.services.webhooks``): signed, with
retries and backoff, at least once.

A try is claimed with one conditional UPDATE (pending, due): it counts the try and
moves the delivery's due time past the try's longest possible run, so a second worker
(a redelivered task, the sweep) finds nothing to do while it runs, and a worker that
died mid-try leaves a delivery the sweep picks up once that time passes. The event id
never changes, so an endpoint that got a try whose answer was lost recognises the
next one (``X-Clinic-Event-Id``).

Signature: ``X-Clinic-Signature: sha256=<hex>``, the HMAC-SHA256 with ``WEBHOOK_SECRET``
of ``<X-Clinic-Timestamp>.<raw body>``; the timestamp (Unix seconds, new on every try)
is signed with the body so a captured request cannot be replayed later
(docs/operations.md says how to verify). Redirects are followed only to the same
scheme, host and port, and only those that keep the POST (307, 308); any other is a
failure that no retry mends. Errors are recorded in our words (``last_error``), never
with what the endpoint answered.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from intake.models import WebhookDelivery
from intake.services.webhooks import webhook_body, webhook_endpoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Clinic-Signature"
TIMESTAMP_HEADER = "X-Clinic-Timestamp"
EVENT_ID_HEADER = "X-Clinic-Event-Id"
MAX_REDIRECTS = 3
# Answers worth another try: the endpoint is busy or down, not refusing the event.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Clinic-Signature`` value of ``body`` sent at ``timestamp``."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class TryResult:
    status_code: int | None
    error: str  # "" when delivered
    permanent: bool = False


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one call of :func:`webhook_deliver` did: ``delivered``, ``retry`` (due
    again at ``next_attempt_at``), ``failed`` (no more tries) or ``skipped`` (not
    pending, not due, or another worker has it)."""

    result: str
    next_attempt_at: datetime | None = None


def _same_origin(first: str, second: str) -> bool:
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _post(url: str, *, body: bytes, event_id: str) -> TryResult:
    """One try: POST ``body``, signed now, following same-origin 307/308 redirects."""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "clinic-webhooks/1",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(
            secret=settings.WEBHOOK_SECRET, timestamp=timestamp, body=body
        ),
    }
    target = url
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            # stream: the answer's body is never downloaded, whatever its size.
            response = requests.post(
                target,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            return TryResult(None, "timed out")
        except requests.ConnectionError:
            return TryResult(None, "connection failed")
        except requests.RequestException as error:
            return TryResult(None, f"request failed ({type(error).__name__})")
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return TryResult(status, "")
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            following = urljoin(target, location) if location else ""
            if status not in (307, 308) or not following:
                return TryResult(status, f"HTTP {status}: redirect not followed", permanent=True)
            if not _same_origin(url, following):
                return TryResult(
                    status, f"HTTP {status}: redirect to another host refused", permanent=True
                )
            target = following
            continue
        permanent = 400 <= status < 500 and status not in _TRANSIENT_STATUSES
        return TryResult(status, f"HTTP {status}", permanent=permanent)
    return TryResult(None, "too many redirects", permanent=True)


def retry_wait(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: doubling from the base, capped."""
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_SECONDS))


def try_lease() -> timedelta:
    """How long a claimed try holds its delivery: longer than any try can run."""
    return timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * (MAX_REDIRECTS + 1) + 30)


def webhook_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """Make one try of a pending, due delivery (see the module), and record it:
    delivered, due again after the backoff, or failed for good (a refusal no retry
    mends, the last of ``WEBHOOK_MAX_ATTEMPTS`` tries, or an endpoint no longer
    configured)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + try_lease(), attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        return DeliveryOutcome("skipped")
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    endpoint = webhook_endpoint(delivery.endpoint)
    if endpoint is None:
        result = TryResult(None, "endpoint no longer configured", permanent=True)
    else:
        body = webhook_body(delivery, covered=endpoint.covered)
        result = _post(endpoint.url, body=body, event_id=str(delivery.event_id))
    return _record(delivery, result)


def _record(delivery: WebhookDelivery, result: TryResult) -> DeliveryOutcome:
    rows = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING)
    now = timezone.now()
    if not result.error:
        rows.update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=now,
            last_status_code=result.status_code,
            last_error="",
        )
        return DeliveryOutcome("delivered")
    log = {"delivery": delivery.pk, "status_code": result.status_code, "error": result.error}
    if result.permanent or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        rows.update(
            status=WebhookDelivery.Status.FAILED,
            last_status_code=result.status_code,
            last_error=result.error[:200],
        )
        logger.error("webhook.delivery_failed", extra=log)
        return DeliveryOutcome("failed")
    due = now + retry_wait(delivery.attempts)
    rows.update(next_attempt_at=due, last_status_code=result.status_code, last_error=result.error)
    logger.warning("webhook.delivery_retry", extra=log)
    return DeliveryOutcome("retry", next_attempt_at=due)


def webhook_ids_due(*, limit: int, now: datetime | None = None) -> list[int]:
    """Pending deliveries due by ``now``, the longest waiting first (the sweep's)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def webhook_redeliver(*, delivery_id: int) -> bool:
    """An admin sends a failed delivery again (the same event id): it is pending and due
    now, its tries counted afresh. False when it was not failed."""
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.FAILED).update(
            status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
    )


__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryOutcome",
    "retry_wait",
    "webhook_deliver",
    "webhook_ids_due",
    "webhook_redeliver",
    "webhook_signature",
]
