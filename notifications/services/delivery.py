"""Handing a message to the provider exactly once: claiming it, sending it through the
transport (Twilio for texts, SMTP for email), failing it for good, reconciling a try
whose worker died, and applying what the provider tells us of it afterwards."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import quiet_hours
from notifications.backends import SmsRequest, TransportError, sms_backend
from notifications.metrics import MESSAGES
from notifications.models import Message, OptOut
from notifications.services.messages import (
    QUIET_HOURS_EXEMPT,
    UNSENT,
    message_enqueue,
    recipient_refused,
    staff_alert,
)
from notifications.services.opt_outs import opt_out_exists, opt_out_record
from notifications.services.retries import (
    AMBIGUOUS_ERRORS,
    TransientDeliveryError,
    retry_delay,
    retry_give_up_at,
)
from notifications.signals import message_failed, message_sent

logger = logging.getLogger(__name__)

# How long Twilio may keep trying to deliver a confirmation before it is pointless.
CONFIRMATION_VALIDITY_SECONDS = 4 * 60 * 60

# Twilio's permanent errors, and what each means for the number.
OPT_OUT_ERRORS = frozenset({"21610"})
UNUSABLE_NUMBER_ERRORS = frozenset({"21211", "21612", "21614", "30003", "30005", "30006"})
ALERT_ERRORS = frozenset({"30007"})

# Statuses a message moves through; a callback never moves a message backwards.
STATUS_RANK = {
    Message.Status.PENDING: 0,
    Message.Status.SCHEDULED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.UNDELIVERED: 3,
    Message.Status.FAILED: 3,
}
TWILIO_STATUSES = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERED,
    "failed": Message.Status.FAILED,
}
STATUS_TIMESTAMP = {
    Message.Status.SENT: "sent_at",
    Message.Status.DELIVERED: "delivered_at",
    Message.Status.UNDELIVERED: "failed_at",
    Message.Status.FAILED: "failed_at",
}


def _claim(message_id: int) -> Message | None:
    """Move a due message to ``sending``; None if another worker has it or it is done.
    A message whose retry budget ran out is due too: to be failed (or, if its last
    try timed out, to ask the provider whether it took it)."""
    now = timezone.now()
    due = (~Q(send_after__gt=now) & ~Q(next_attempt_at__gt=now)) | Q(give_up_at__lte=now)
    claimed = Message.objects.filter(due, pk=message_id, status__in=UNSENT).update(
        status=Message.Status.SENDING, sending_at=now, attempts=F("attempts") + 1
    )
    return Message.objects.get(pk=message_id) if claimed else None


def _sms_request(message: Message) -> SmsRequest:
    return SmsRequest(
        to=message.recipient,
        body=message.body,
        status_callback=f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status/",
        validity_period=CONFIRMATION_VALIDITY_SECONDS
        if message.purpose == Message.Purpose.CONFIRMATION
        else None,
    )


def sms_pace(*, max_wait: float = 20.0) -> None:
    """Wait for a slot under ``SMS_MAX_PER_SECOND``, counted in the shared cache (Redis
    in production) so the limit holds across every worker, not per worker."""
    limit = settings.SMS_MAX_PER_SECOND
    deadline = time.monotonic() + max_wait
    while True:
        second = int(time.time())
        key = f"sms-pace:{second}"
        cache.add(key, 0, timeout=5)
        try:
            taken = cache.incr(key)
        except ValueError:  # the key expired between add and incr
            continue
        if taken <= limit:
            return
        if time.monotonic() > deadline:
            raise TransportError("SMS send rate saturated", code="paced", permanent=False)
        time.sleep(max(0.005, second + 1 - time.time()))


def _transport(message: Message) -> str:
    """Send through the configured transport; returns the provider id."""
    if recipient_refused(
        channel=message.channel, purpose=message.purpose, recipient=message.recipient
    ):
        raise TransportError("Recipient refused contact", code="refused", permanent=True)
    if message.channel == Message.Channel.SMS:
        if opt_out_exists(phone=message.recipient):
            raise TransportError("Recipient opted out", code="opted_out", permanent=True)
        sms_pace()
        return sms_backend().send(_sms_request(message))
    message_id_header = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">"))
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        reply_to=[settings.CLINIC_REPLY_TO_EMAIL],
        headers={"Message-ID": message_id_header},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    if message.attachment:
        mimetype = "text/calendar" if message.attachment_name.endswith(".ics") else "text/plain"
        email.attach(message.attachment_name, message.attachment, mimetype)
    try:
        email.send(fail_silently=False)
    except OSError as error:  # SMTP errors are OSErrors
        raise TransportError(
            f"Mail server error: {type(error).__name__}", code="smtp", permanent=False
        ) from error
    return message_id_header


def _already_taken(message: Message) -> str | None:
    """Before resending an SMS whose last try timed out, ask the provider whether it
    took that try after all; its id if so."""
    if message.channel != Message.Channel.SMS or message.error_code not in AMBIGUOUS_ERRORS:
        return None
    return sms_backend().find_sent(_sms_request(message), since=message.created_at)


def _give_up_at(message: Message) -> datetime:
    return message.give_up_at or retry_give_up_at(
        purpose=message.purpose,
        start=max(message.created_at, message.send_after or message.created_at),
    )


def _next_attempt_at(message: Message, *, now: datetime, delay: float) -> datetime:
    """When to try again: after ``delay``, and for a text that is not an answer to
    something the person just did, not in their quiet hours."""
    moment = now + timedelta(seconds=delay)
    if message.channel == Message.Channel.SMS and message.purpose not in QUIET_HOURS_EXEMPT:
        zones = quiet_hours.recipient_time_zones(
            phone=message.recipient, declared=message.recipient_time_zone
        )
        moment = quiet_hours.quiet_hours_release(now=moment, zones=zones) or moment
    return moment


def message_deliver(*, message_id: int) -> Message | None:
    """Send one message, at most once.

    The message is claimed with a conditional update before the provider is
    called, so a redelivered or concurrent task finds nothing to do. A transient
    failure sets its ``next_attempt_at`` (capped exponential backoff with jitter,
    never sooner than the provider's ``Retry-After``, outside quiet hours for a
    follow-up) and raises :class:`TransientDeliveryError`; the task retries soon
    ones itself and ``messages_sweep`` hands over the rest when due. A permanent
    error, or a next try that would come after ``give_up_at``, marks the message
    failed (see :func:`_fail`)."""
    message = _claim(message_id)
    if message is None:
        return None
    now = timezone.now()
    give_up_at = _give_up_at(message)
    try:
        provider_id = _already_taken(message)
        if provider_id is None and now >= give_up_at:
            return _fail(
                message,
                code=message.error_code or "expired",
                text=f"Not sent within its retry budget ({message.attempts - 1} tries)",
            )
        provider_id = provider_id or _transport(message)
    except TransportError as error:
        if error.permanent:
            return _fail(message, code=error.code, text=str(error))
        # From the provider's answer, not from the claim: Retry-After counts from then.
        now = timezone.now()
        delay = retry_delay(attempts=message.attempts, retry_after=error.retry_after)
        next_attempt_at = _next_attempt_at(message, now=now, delay=delay)
        if next_attempt_at > give_up_at:
            return _fail(
                message,
                code=error.code,
                text=f"{error}; retry budget spent after {message.attempts} tries",
            )
        if Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.SCHEDULED,
            next_attempt_at=next_attempt_at,
            error_code=error.code[:50],
            error_message=str(error)[:500],
        ):
            MESSAGES.labels(message.channel, Message.Status.SCHEDULED).inc()
        raise TransientDeliveryError(
            str(error), retry_in=(next_attempt_at - now).total_seconds()
        ) from error
    if Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.SENT, provider_id=provider_id, sent_at=timezone.now()
    ):
        MESSAGES.labels(message.channel, Message.Status.SENT).inc()
        sent = {
            "message_id": message.pk,
            "channel": message.channel,
            "purpose": message.purpose,
            "correlation": message.correlation,
        }
        transaction.on_commit(lambda: message_sent.send_robust(sender=Message, **sent), robust=True)
    message.refresh_from_db()
    return message


def _fail(
    message: Message, *, code: str, text: str, status: str = Message.Status.FAILED
) -> Message:
    """Record a final failure and act on what the error says about the number:
    a carrier opt-out or an unusable number blocks further SMS to it; a spam filter
    or an error we do not know alerts staff. ``message_failed`` tells the apps above."""
    Message.objects.filter(pk=message.pk).update(
        status=status,
        error_code=code[:50],
        error_message=text[:500],
        failed_at=timezone.now(),
    )
    MESSAGES.labels(message.channel, status).inc()
    message.refresh_from_db()
    logger.warning(
        "notifications.message_failed",
        extra={"message_id": message.pk, "error_code": code, "channel": message.channel},
    )
    if message.channel == Message.Channel.SMS:
        if code in OPT_OUT_ERRORS:
            opt_out_record(phone=message.recipient, reason=OptOut.Reason.CARRIER, source=code)
        elif code in UNUSABLE_NUMBER_ERRORS:
            opt_out_record(phone=message.recipient, reason=OptOut.Reason.UNUSABLE, source=code)
        elif code not in ("opted_out", "refused"):
            staff_alert(
                title=f"SMS delivery failed ({code or 'unknown error'})",
                text=f"Message #{message.pk} ({message.purpose}) could not be delivered: "
                f"error {code or 'unknown'}. It will not be retried.",
                dedupe_key=f"alert:message-failed:{message.pk}",
            )
    message_failed.send_robust(
        sender=Message, message_id=message.pk, correlation=message.correlation, error_code=code
    )
    return message


def message_reconcile(*, message_id: int) -> Message | None:
    """A message left in ``sending`` (its worker died mid-send): ask the provider
    whether it took the message before allowing a resend, so nobody gets it twice."""
    message = Message.objects.filter(pk=message_id, status=Message.Status.SENDING).first()
    if message is None:
        return None
    provider_id = None
    if message.channel == Message.Channel.SMS:
        try:
            provider_id = sms_backend().find_sent(
                _sms_request(message), since=message.sending_at or message.created_at
            )
        except TransportError:
            return message  # the provider cannot tell now; the next sweep asks again
    # Only the claim this reconcile looked at (same attempt): while the provider was
    # asked, an overlapping sweep may have queued the message again and a worker
    # claimed it anew; sending that claim back to pending would send the text twice.
    same_claim = Message.objects.filter(
        pk=message.pk, status=Message.Status.SENDING, attempts=message.attempts
    )
    if provider_id:
        if same_claim.update(
            status=Message.Status.SENT, provider_id=provider_id, sent_at=timezone.now()
        ):
            MESSAGES.labels(message.channel, Message.Status.SENT).inc()
    elif same_claim.update(status=Message.Status.PENDING):
        message_enqueue(message_id=message.pk)
    message.refresh_from_db()
    return message


# --- What Twilio tells us ------------------------------------------------------------


def message_status_record(*, provider_id: str, status: str, error_code: str = "") -> bool:
    """Apply a delivery status callback. Idempotent and monotonic: a duplicate or a
    late callback never moves a message backwards. Returns True if it changed."""
    new_status = TWILIO_STATUSES.get(status)
    if new_status is None:  # queued, sending, accepted...: nothing we do not know
        return False
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(provider_id=provider_id).first()
        if message is None or STATUS_RANK.get(message.status, 3) >= STATUS_RANK[new_status]:
            return False
        if new_status in (Message.Status.UNDELIVERED, Message.Status.FAILED):
            _fail(
                message, code=error_code or "", text=f"Carrier reported {status}", status=new_status
            )
            return True
        setattr(message, STATUS_TIMESTAMP[new_status], timezone.now())
        message.status = new_status
        message.save(update_fields=["status", STATUS_TIMESTAMP[new_status]])
    MESSAGES.labels(message.channel, new_status).inc()
    return True
