"""Handing a message to the provider exactly once: claiming it, sending it through the
transport (Twilio for texts, SMTP for email), failing it for good, reconciling a try
whose worker died, and applying what the provider tells us of it afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from clinic.workers import enqueue
from notifications import quiet_hours, selectors
from notifications.backends import SmsRequest, TransportError, sms_backend
from notifications.metrics import MESSAGES
from notifications.models import Message, OptOut, Refusal
from notifications.pacer import message_priority, sms_pacer
from notifications.services.messages import (
    QUIET_HOURS_EXEMPT,
    UNSENT,
    message_enqueue,
    staff_alert,
)
from notifications.services.opt_outs import opt_out_record
from notifications.services.recipient_locks import recipient_sending
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


def refused_error() -> TransportError:
    return TransportError("Recipient refused contact", code="refused", permanent=True)


def opted_out_error() -> TransportError:
    return TransportError("Recipient opted out", code="opted_out", permanent=True)


_REFUSAL_CHANNEL = {
    Message.Channel.SMS: Refusal.Channel.PHONE,
    Message.Channel.EMAIL: Refusal.Channel.EMAIL,
}


def messages_blocked(
    messages: list[Message], *, hashes: dict[int, str]
) -> dict[int, TransportError | None]:
    """Why each of ``messages`` may no longer go, if so: a refusal in force for its
    number or address (staff alerts aside), or an opt-out of its number. Two queries
    however many messages; ``hashes`` are their recipients' keyed hashes
    (``selectors.recipient_hash``), by message id."""
    texts = [m for m in messages if m.channel == Message.Channel.SMS and hashes[m.pk]]
    mails = [m for m in messages if m.channel != Message.Channel.SMS and hashes[m.pk]]
    refused = {
        (refusal.channel, refusal.value_hash)
        for refusal in selectors.refusals_live(
            phone_hashes=[hashes[m.pk] for m in texts], email_hashes=[hashes[m.pk] for m in mails]
        )
    }
    opted_out = set(
        OptOut.objects.filter(phone_hash__in=[hashes[m.pk] for m in texts]).values_list(
            "phone_hash", flat=True
        )
    )
    blocked: dict[int, TransportError | None] = {}
    for message in messages:
        kind = _REFUSAL_CHANNEL[message.channel]
        if message.purpose != Message.Purpose.STAFF_ALERT and (kind, hashes[message.pk]) in refused:
            blocked[message.pk] = refused_error()
        elif message.channel == Message.Channel.SMS and hashes[message.pk] in opted_out:
            blocked[message.pk] = opted_out_error()
        else:
            blocked[message.pk] = None
    return blocked


def _pace(message: Message) -> float:
    """Take a token from the shared SMS pacer: 0 if taken, else seconds to wait."""
    grant = sms_pacer().take(priority=message_priority(message.purpose))
    return 0.0 if grant.granted else grant.retry_in


def email_message(message: Message, *, connection: Any = None) -> EmailMultiAlternatives:
    """The email of ``message``, with its own Message-ID (recorded as its provider id),
    to go through ``connection`` (one mail server connection for a batch)."""
    message_id_header = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">"))
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        reply_to=[settings.CLINIC_REPLY_TO_EMAIL],
        headers={"Message-ID": message_id_header},
        connection=connection,
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    if message.attachment:
        mimetype = "text/calendar" if message.attachment_name.endswith(".ics") else "text/plain"
        email.attach(message.attachment_name, message.attachment, mimetype)
    return email


def email_send(message: Message, *, connection: Any = None) -> str:
    """Send the email of ``message``; returns its Message-ID."""
    email = email_message(message, connection=connection)
    try:
        email.send(fail_silently=False)
    except OSError as error:  # SMTP errors are OSErrors
        raise TransportError(
            f"Mail server error: {type(error).__name__}", code="smtp", permanent=False
        ) from error
    return str(email.extra_headers["Message-ID"])


@dataclass(frozen=True)
class Attempt:
    """What came of handing one claimed message over: the provider's id, a transport
    error, the end of its budget (``expired``), or no SMS token (``deferred``: seconds
    to wait)."""

    provider_id: str | None = None
    error: TransportError | None = None
    expired: bool = False
    deferred: float | None = None


def attempt_send(
    message: Message,
    *,
    now: datetime,
    blocked: TransportError | None,
    pace: Callable[[Message], float] = _pace,
    send_email: Callable[[Message], str] = email_send,
) -> Attempt:
    """Hand a claimed message to its transport. Provider calls only, no database: a
    batch runs this in its threads; ``blocked`` (:func:`messages_blocked`) was read before.
    A text whose last try timed out is first looked up at the provider; the budget,
    the refusal or opt-out and the pacer are checked, in that order, before sending."""
    try:
        provider_id = _already_taken(message)
        if provider_id is not None:
            return Attempt(provider_id=provider_id)
        if now >= _give_up_at(message):
            return Attempt(expired=True)
        if blocked is not None:
            return Attempt(error=blocked)
        if message.channel == Message.Channel.SMS:
            wait = pace(message)
            if wait > 0:
                return Attempt(deferred=wait)
            return Attempt(provider_id=sms_backend().send(_sms_request(message)))
        return Attempt(provider_id=send_email(message))
    except TransportError as error:
        return Attempt(error=error)


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
    called, so a redelivered or concurrent task finds nothing to do. A text takes a
    token from the shared SMS pacer first; with none to take, it is put back
    (``scheduled``, its ``next_attempt_at`` when the pacer says) without counting as a
    try, and a task is queued for then if that is soon (else ``messages_sweep`` takes
    it). A transient failure sets its ``next_attempt_at`` (capped exponential backoff
    with jitter, never sooner than the provider's ``Retry-After``, outside quiet hours
    for a follow-up) and raises :class:`TransientDeliveryError`; the task retries soon
    ones itself and ``messages_sweep`` hands over the rest when due. A permanent
    error, or a next try that would come after ``give_up_at``, marks the message
    failed (see :func:`_fail`)."""
    message = _claim(message_id)
    if message is None:
        return None
    # Checked and sent under the recipient's lock: a stop recorded meanwhile waits for
    # this send, or this send waits for it and sees it (recipient_locks).
    hashed = selectors.recipient_hash(channel=message.channel, recipient=message.recipient)
    with recipient_sending(hashed):
        blocked = messages_blocked([message], hashes={message.pk: hashed})[message.pk]
        attempt = attempt_send(message, now=timezone.now(), blocked=blocked)
    return attempt_record(message, attempt)


def attempt_record(message: Message, attempt: Attempt) -> Message:
    """Record what came of a claimed message's attempt (:func:`attempt_send`): sent,
    failed, put back for a token, or rescheduled after a transient error (raising
    :class:`TransientDeliveryError`)."""
    if attempt.provider_id is not None:
        return _sent(message, provider_id=attempt.provider_id)
    if attempt.expired:
        return _fail(
            message,
            code=message.error_code or "expired",
            text=f"Not sent within its retry budget ({message.attempts - 1} tries)",
        )
    if attempt.deferred is not None:
        return _defer(message, wait=attempt.deferred)
    error = attempt.error
    assert error is not None
    if error.permanent:
        return _fail(message, code=error.code, text=str(error))
    # From the provider's answer, not from the claim: Retry-After counts from then.
    now = timezone.now()
    delay = retry_delay(attempts=message.attempts, retry_after=error.retry_after)
    next_attempt_at = _next_attempt_at(message, now=now, delay=delay)
    if next_attempt_at > _give_up_at(message):
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
    raise TransientDeliveryError(str(error), retry_in=(next_attempt_at - now).total_seconds())


def _sent(message: Message, *, provider_id: str) -> Message:
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


def _defer(message: Message, *, wait: float) -> Message:
    """No SMS token now: give the claim back, as if it had not been made (the try is
    not counted, the budget is untouched), due again in ``wait`` seconds."""
    next_attempt_at = timezone.now() + timedelta(seconds=wait)
    if Message.objects.filter(
        pk=message.pk, status=Message.Status.SENDING, sending_at=message.sending_at
    ).update(
        status=Message.Status.SCHEDULED,
        next_attempt_at=next_attempt_at,
        attempts=F("attempts") - 1,
    ):
        deliver_later(message_id=message.pk, at=next_attempt_at)
    message.refresh_from_db()
    return message


def deliver_later(*, message_id: int, at: datetime) -> None:
    """After commit, queue the delivery of a message due again at ``at``, if that is
    soon enough for a task to wait (``MESSAGE_RETRY_TASK_COUNTDOWN_MAX_SECONDS``); a
    later one is ``messages_sweep``'s."""
    wait = (at - timezone.now()).total_seconds()
    if wait <= settings.MESSAGE_RETRY_TASK_COUNTDOWN_MAX_SECONDS:
        transaction.on_commit(
            lambda: enqueue("notifications.tasks.message_deliver", message_id, eta=at),
            robust=True,
        )


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
    # (A claim given back for want of an SMS token uncounts its try: the claim's
    # ``sending_at`` tells a newer claim with the same count apart.)
    same_claim = Message.objects.filter(
        pk=message.pk,
        status=Message.Status.SENDING,
        attempts=message.attempts,
        sending_at=message.sending_at,
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
