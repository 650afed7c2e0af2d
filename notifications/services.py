"""Sending messages exactly once, and honouring opt-outs.

The apps above call :func:`message_send`; a worker calls :func:`message_deliver`.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from notifications.backends import SmsRequest, TransportError, sms_backend
from notifications.models import Message, OptOut
from notifications.signals import message_failed

logger = logging.getLogger(__name__)

# The only names a message template may use: nothing about health, no free text.
ALLOWED_CONTEXT = frozenset({"first_name", "clinic_name", "clinic_phone", "callback_window"})
# How long Twilio may keep trying to deliver a confirmation before it is pointless.
CONFIRMATION_VALIDITY_SECONDS = 4 * 60 * 60


def retry_jitter(ceiling: float) -> float:
    """A random delay in [ceiling / 2, ceiling]: retries from many workers spread out."""
    return ceiling / 2 + random.random() * ceiling / 2


class TransientDeliveryError(Exception):
    """Sending failed in a way a retry may fix; the message is pending again."""


def message_render(*, template: str, channel: str, context: dict[str, str]) -> dict[str, str]:
    """Subject, text and HTML bodies of ``template`` for ``channel``.

    Only :data:`ALLOWED_CONTEXT` names reach the template; anything else is a bug."""
    unknown = set(context) - ALLOWED_CONTEXT
    if unknown:
        raise ValueError(f"Message context may not carry {sorted(unknown)}")
    context = {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        **context,
    }
    base = f"notifications/messages/{template}"
    if channel == Message.Channel.SMS:
        return {"body": render_to_string(f"{base}.sms.txt", context).strip()}
    return {
        "subject": " ".join(render_to_string(f"{base}.subject.txt", context).split()),
        "body": render_to_string(f"{base}.email.txt", context).strip() + "\n",
        "body_html": render_to_string(f"{base}.email.html", context),
    }


def opt_out_exists(*, phone: str) -> bool:
    return OptOut.objects.filter(phone=phone).exists()


def message_send(
    *,
    channel: str,
    purpose: str,
    recipient: str,
    template: str,
    context: dict[str, str],
    correlation: str = "",
    dedupe_key: str | None = None,
    send_after: datetime | None = None,
) -> Message:
    """Record a message and queue its delivery after the current transaction commits.

    With ``dedupe_key``, a second call returns the first message and queues nothing:
    a redelivered task cannot send twice. An SMS to an opted-out number is stored
    as ``suppressed`` and never sent."""
    if dedupe_key:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    rendered = message_render(template=template, channel=channel, context=context)
    suppressed = channel == Message.Channel.SMS and opt_out_exists(phone=recipient)
    if suppressed:
        status = Message.Status.SUPPRESSED
    elif send_after and send_after > timezone.now():
        status = Message.Status.SCHEDULED
    else:
        status = Message.Status.PENDING
    try:
        with transaction.atomic():
            message = Message.objects.create(
                channel=channel,
                purpose=purpose,
                template=template,
                recipient=recipient,
                status=status,
                send_after=send_after,
                correlation=correlation,
                dedupe_key=dedupe_key,
                error_code="opted_out" if suppressed else "",
                **rendered,
            )
    except IntegrityError:
        # A concurrent caller stored the same dedupe_key first.
        return Message.objects.get(dedupe_key=dedupe_key)
    if status == Message.Status.PENDING:
        message_id = message.pk
        transaction.on_commit(lambda: message_enqueue(message_id=message_id), robust=True)
    return message


def message_enqueue(*, message_id: int) -> bool:
    """Hand a message to the workers. A broker outage is logged, not raised: the
    message stays pending and ``messages_sweep`` hands it over later."""
    from notifications.tasks import message_deliver

    try:
        message_deliver.delay(message_id)
    except Exception:  # kombu raises many types; any of them means "not queued".
        logger.warning("notifications.enqueue_failed", extra={"message_id": message_id})
        return False
    return True


def _claim(message_id: int) -> Message | None:
    """Move a due message to ``sending``; None if another worker has it or it is done."""
    now = timezone.now()
    claimed = (
        Message.objects.filter(
            pk=message_id, status__in=[Message.Status.PENDING, Message.Status.SCHEDULED]
        )
        .exclude(send_after__gt=now)
        .update(status=Message.Status.SENDING, sending_at=now, attempts=F("attempts") + 1)
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


def _transport(message: Message) -> str:
    """Send through the configured transport; returns the provider id."""
    if message.channel == Message.Channel.SMS:
        if opt_out_exists(phone=message.recipient):
            raise TransportError("Recipient opted out", code="opted_out", permanent=True)
        return sms_backend().send(_sms_request(message))
    message_id_header = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">"))
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        reply_to=[settings.DEFAULT_FROM_EMAIL],
        headers={"Message-ID": message_id_header},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    try:
        email.send(fail_silently=False)
    except OSError as error:  # SMTP errors are OSErrors
        raise TransportError(
            f"Mail server error: {type(error).__name__}", code="smtp", permanent=False
        ) from error
    return message_id_header


def message_deliver(*, message_id: int, retry_in: float | None = None) -> Message | None:
    """Send one message, at most once.

    The message is claimed with a conditional update before the provider is
    called, so a redelivered or concurrent task finds nothing to do. A transient
    failure reschedules it ``retry_in`` seconds later and raises
    :class:`TransientDeliveryError` (the task retries then); with no ``retry_in``
    left, or on a permanent error, it is marked failed and ``message_failed`` sent."""
    message = _claim(message_id)
    if message is None:
        return None
    try:
        provider_id = _transport(message)
    except TransportError as error:
        if error.permanent or retry_in is None:
            return _mark_failed(message, code=error.code, text=str(error))
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.SCHEDULED,
            send_after=timezone.now() + timedelta(seconds=retry_in),
            error_code=error.code[:50],
            error_message=str(error)[:500],
        )
        raise TransientDeliveryError(str(error)) from error
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.SENT, provider_id=provider_id, sent_at=timezone.now()
    )
    message.refresh_from_db()
    return message


def _mark_failed(message: Message, *, code: str, text: str) -> Message:
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.FAILED,
        error_code=code[:50],
        error_message=text[:500],
        failed_at=timezone.now(),
    )
    message.refresh_from_db()
    logger.warning(
        "notifications.message_failed",
        extra={"message_id": message.pk, "error_code": code, "channel": message.channel},
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
        provider_id = sms_backend().find_sent(
            _sms_request(message), since=message.sending_at or message.created_at
        )
    if provider_id:
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.SENT, provider_id=provider_id, sent_at=timezone.now()
        )
    else:
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.PENDING
        )
        message_enqueue(message_id=message.pk)
    message.refresh_from_db()
    return message
