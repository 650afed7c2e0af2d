"""Sending messages exactly once, and honouring what people tell us by SMS.

The apps above call :func:`message_send`; workers call :func:`message_deliver`;
the Twilio webhooks call :func:`message_status_record` and :func:`inbound_receive`.
"""

from __future__ import annotations

import logging
import random
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.template import engines
from django.template.loader import get_template
from django.utils import timezone

from clinic.audit import events
from clinic.crypto import email_hash, phone_hash
from clinic.workers import enqueue
from notifications import conversations, quiet_hours, replies
from notifications.backends import SmsRequest, TransportError, sms_backend
from notifications.metrics import MESSAGES
from notifications.models import (
    MESSAGE_READ,
    InboundCall,
    InboundMessage,
    Message,
    MessageTemplate,
    OptOut,
    Refusal,
)
from notifications.selectors import contact_refused, recipient_hash, sms_country_allowed
from notifications.signals import (
    call_missed,
    call_received,
    message_failed,
    opted_out,
    reply_received,
)
from notifications.sms_consent import sms_consent_opt_in, sms_consent_restricted
from notifications.wording import ALLOWED_CONTEXT, wording_problems

logger = logging.getLogger(__name__)

# How long Twilio may keep trying to deliver a confirmation before it is pointless.
CONFIRMATION_VALIDITY_SECONDS = 4 * 60 * 60
# Answers to something the person just did go at once; everything else waits
# for the person's daytime.
QUIET_HOURS_EXEMPT = frozenset(
    {Message.Purpose.CONFIRMATION, Message.Purpose.REPLY, Message.Purpose.STAFF_CODE}
)
# Messages to members of staff: not checked as messages to a person, never about a lead.
STAFF_PURPOSES = frozenset({Message.Purpose.STAFF_ALERT, Message.Purpose.STAFF_CODE})

# Twilio's permanent errors, and what each means for the number.
OPT_OUT_ERRORS = frozenset({"21610"})
UNUSABLE_NUMBER_ERRORS = frozenset({"21211", "21612", "21614", "30003", "30005", "30006"})
ALERT_ERRORS = frozenset({"30007"})

# The source of the opt-out a refusal makes (notifications.refusals): lifting the
# refusal lifts it; a stop the person sent themselves takes it over.
REFUSAL_OPT_OUT_SOURCE = "refusal"

# A message not handed to the provider yet.
_UNSENT = [Message.Status.PENDING, Message.Status.SCHEDULED]
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


class TransientDeliveryError(Exception):
    """Sending failed in a way a retry may fix; the message is rescheduled for
    ``retry_in`` seconds from now (its ``next_attempt_at``)."""

    def __init__(self, message: str, *, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


def message_access_record(*, message: Message | InboundMessage, what: str) -> None:
    """Record on the audit trail that the current user was shown ``message`` (its
    recipient or sender and its body) by ``what``."""
    events.event_record(message, label=MESSAGE_READ, read=what)


def retry_jitter(ceiling: float) -> float:
    """A random delay in [ceiling / 2, ceiling]: retries from many workers spread out."""
    return ceiling / 2 + random.random() * ceiling / 2


def retry_delay(*, attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed try: about 2, 4, 8... seconds
    with jitter, capped at ``MESSAGE_RETRY_MAX_DELAY_SECONDS``, and never sooner than
    the provider's ``Retry-After`` (plus up to a tenth more, so that the messages it
    refused together do not all come back in the same second)."""
    cap = settings.MESSAGE_RETRY_MAX_DELAY_SECONDS
    delay = retry_jitter(min(cap, 2.0 ** max(1, attempts)))
    if retry_after:
        delay = max(delay, retry_after * (1 + random.random() * 0.1))
    return delay


def retry_give_up_at(*, purpose: str, start: datetime) -> datetime:
    """The end of the retry budget of a message of ``purpose`` first due at ``start``:
    a day for a confirmation (``MESSAGE_RETRY_BUDGET_MINUTES``), less for a
    reminder, whose moment passes (``MESSAGE_RETRY_REMINDER_BUDGET_MINUTES``)."""
    minutes = (
        settings.MESSAGE_RETRY_REMINDER_BUDGET_MINUTES
        if purpose == Message.Purpose.REMINDER
        else settings.MESSAGE_RETRY_BUDGET_MINUTES
    )
    return start + timedelta(minutes=minutes)


# --- Wording ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    body_html: str
    version: int | None


def _active_template(name: str, channel: str) -> MessageTemplate | None:
    return (
        MessageTemplate.objects.filter(name=name, channel=channel, is_active=True)
        .order_by("-version")
        .first()
    )


_URL = re.compile(r"https?://\S+")
# A first name longer than this is not one (or not one to repeat in a text).
FIRST_NAME_MAX_IN_MESSAGES = 30


# Japanese names mix kanji and kana: one writing system here.
_SCRIPT_FAMILY = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK"}


def _scripts(text: str) -> set[str]:
    """The writing systems of the letters in ``text`` ("LATIN", "CYRILLIC", "CJK"...),
    from their Unicode names; modifier letters (the Hawaiian okina) belong to none."""
    names = (
        unicodedata.name(char, "?").split()[0]
        for char in text
        if char.isalpha() and unicodedata.category(char) != "Lm"
    )
    return {_SCRIPT_FAMILY.get(name, name) for name in names}


def _greeting_name(first_name: str) -> str:
    """The first name a message may greet, or "" for none ("Hi," / "Hello,"): not one
    that names health information, is too long to be a first name, or mixes writing
    systems (a Cyrillic "e" in a Latin word is a look-alike that hides a word from the
    wording check, never a real name)."""
    if not first_name or len(first_name) > FIRST_NAME_MAX_IN_MESSAGES:
        return ""
    if len(_scripts(first_name)) > 1 or wording_problems(first_name):
        return ""
    return first_name


def message_render(
    *,
    template: str,
    channel: str,
    context: dict[str, str],
    discreet: bool = False,
    to_person: bool = True,
    greet_by_name: bool = False,
) -> Rendered:
    """Subject, text and HTML of ``template`` for ``channel``: the newest active
    version edited in admin, else the default shipped in code.

    Only :data:`ALLOWED_CONTEXT` names reach the template. ``discreet`` (the person
    said not to mention the clinic) replaces the clinic's name with a neutral one.
    A message ``to_person`` (not a staff alert) carries a ``first_name`` only when the
    caller says it may (``greet_by_name``: a name confirmed with the person, going to a
    detail they proved); by default, and for a name that names health information, is
    too long or mixes scripts, the greeting has no name. It is then checked as rendered
    by the health wording check (``wording_problems``); a text that fails raises
    ``ValueError``."""
    unknown = set(context) - ALLOWED_CONTEXT
    if unknown:
        raise ValueError(f"Message context may not carry {sorted(unknown)}")
    if not to_person:
        return _render(template=template, channel=channel, context=context, discreet=discreet)
    # Typed into a form by anyone: no name unless the caller vouches for it.
    name = context.get("first_name", "") if greet_by_name else ""
    context = {**context, "first_name": _greeting_name(name)}
    rendered = _render(template=template, channel=channel, context=context, discreet=discreet)
    # Links are the clinic's own (signed tokens are random letters, not wording).
    text = _URL.sub(" ", f"{rendered.subject}\n{rendered.body}")
    problems = wording_problems(text)
    if problems:
        raise ValueError(f"Message {template!r} would name health information: {problems}")
    return rendered


def _render(*, template: str, channel: str, context: dict[str, str], discreet: bool) -> Rendered:
    context = {
        "clinic_name": settings.DISCREET_SENDER_NAME if discreet else settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        **context,
    }
    edited = _active_template(template, channel)
    if edited is not None:
        django_engine = engines["django"]

        def render_text(source: str) -> str:
            wrapped = "{% autoescape off %}" + source + "{% endautoescape %}"
            return django_engine.from_string(wrapped).render(context)

        subject = render_text(edited.subject) if channel == Message.Channel.EMAIL else ""
        body = render_text(edited.body)
        html = (
            django_engine.from_string(edited.body_html).render(context) if edited.body_html else ""
        )
        version: int | None = edited.version
    else:
        base = f"notifications/messages/{template}"
        if channel == Message.Channel.SMS:
            subject, html = "", ""
            body = get_template(f"{base}.sms.txt").render(context)
        else:
            subject = get_template(f"{base}.subject.txt").render(context)
            body = get_template(f"{base}.email.txt").render(context)
            html = get_template(f"{base}.email.html").render(context)
        version = None
    body = body.strip()
    return Rendered(
        subject=" ".join(subject.split()),
        body=body + "\n" if channel == Message.Channel.EMAIL else body,
        body_html=html,
        version=version,
    )


# --- Sending ---------------------------------------------------------------------


def opt_out_exists(*, phone: str) -> bool:
    hashed = phone_hash(phone)
    return bool(hashed) and OptOut.objects.filter(phone_hash=hashed).exists()


def _refused(*, channel: str, purpose: str, recipient: str) -> bool:
    """The person at ``recipient`` asked not to be contacted (``Refusal``); staff
    alerts go to staff, never to a person, and are not held."""
    if purpose == Message.Purpose.STAFF_ALERT:
        return False
    if channel == Message.Channel.SMS:
        return contact_refused(phone=recipient)
    return contact_refused(email=recipient)


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
    recipient_time_zone: str = "",
    discreet: bool = False,
    attachment: tuple[str, str] | None = None,
    give_up_at: datetime | None = None,
    greet_by_name: bool = False,
    sent_by_id: int | None = None,
) -> Message:
    """Record a message and queue its delivery after the current transaction commits.

    With ``dedupe_key``, a second call returns the first message and queues
    nothing: a redelivered task cannot send twice. An SMS to an opted-out or
    unusable number is stored as ``suppressed`` and never sent, and so is a text or
    email (not a staff alert) to a phone or address under a refusal (``error_code``
    "refused", ``notifications.refusals``). An SMS other than
    a confirmation, or a reply within the hour of the person's own text
    (``quiet_hours.quiet_hours_apply``), waits for the end of quiet hours in the person's
    time zone (``recipient_time_zone``, else the number's). ``sent_by_id`` names the
    member of staff whose words it carries. Every text updates its number's
    conversation (``notifications.conversations``) in the same transaction. An email may carry one
    text ``attachment`` (file name, content), such as a calendar invitation.

    Transient failures are retried until ``give_up_at`` (by default the purpose's
    budget from when the message is first due, see :func:`retry_give_up_at`); then
    the message is failed and ``message_failed`` says so.

    The message greets the person by ``first_name`` only with ``greet_by_name`` (see
    :func:`message_render`): the caller knows whether the name was confirmed with the
    person and the recipient is a detail they proved; notifications does not."""
    if dedupe_key:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    rendered = message_render(
        template=template,
        channel=channel,
        context=context,
        discreet=discreet,
        to_person=purpose not in STAFF_PURPOSES,
        greet_by_name=greet_by_name,
    )
    now = timezone.now()
    if channel == Message.Channel.SMS and quiet_hours.quiet_hours_apply(
        purpose=purpose, phone=recipient, now=now
    ):
        release = quiet_hours.quiet_hours_release(
            now=max(now, send_after or now),
            zones=quiet_hours.recipient_time_zones(phone=recipient, declared=recipient_time_zone),
        )
        send_after = release or send_after
    refused = _refused(channel=channel, purpose=purpose, recipient=recipient)
    opted_out = channel == Message.Channel.SMS and opt_out_exists(phone=recipient)
    suppressed = refused or opted_out
    if suppressed:
        status = Message.Status.SUPPRESSED
    elif send_after and send_after > now:
        status = Message.Status.SCHEDULED
    else:
        status = Message.Status.PENDING
    try:
        with transaction.atomic():
            message = Message.objects.create(
                channel=channel,
                purpose=purpose,
                template=template,
                template_version=rendered.version,
                recipient=recipient,
                recipient_hash=recipient_hash(channel=channel, recipient=recipient),
                subject=rendered.subject,
                body=rendered.body,
                body_html=rendered.body_html,
                status=status,
                send_after=send_after,
                give_up_at=give_up_at
                or retry_give_up_at(purpose=purpose, start=max(now, send_after or now)),
                recipient_time_zone=recipient_time_zone[:64],
                correlation=correlation,
                dedupe_key=dedupe_key,
                error_code="refused" if refused else "opted_out" if opted_out else "",
                attachment_name=attachment[0] if attachment else "",
                attachment=attachment[1] if attachment else "",
                sent_by_id=sent_by_id,
            )
            conversations.conversation_note_outbound(message=message)
    except IntegrityError:
        # A concurrent caller stored the same dedupe_key first.
        return Message.objects.get(dedupe_key=dedupe_key)
    MESSAGES.labels(channel, status).inc()
    if status == Message.Status.PENDING:
        message_id = message.pk
        transaction.on_commit(lambda: message_enqueue(message_id=message_id), robust=True)
    return message


def message_enqueue(*, message_id: int) -> bool:
    """Hand a message to the workers; if the broker is down it stays pending and
    ``messages_sweep`` hands it over later."""
    return enqueue("notifications.tasks.message_deliver", message_id)


def _claim(message_id: int) -> Message | None:
    """Move a due message to ``sending``; None if another worker has it or it is done.
    A message whose retry budget ran out is due too: to be failed (or, if its last
    try timed out, to ask the provider whether it took it)."""
    now = timezone.now()
    due = (~Q(send_after__gt=now) & ~Q(next_attempt_at__gt=now)) | Q(give_up_at__lte=now)
    claimed = Message.objects.filter(due, pk=message_id, status__in=_UNSENT).update(
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
    if _refused(channel=message.channel, purpose=message.purpose, recipient=message.recipient):
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


# Failures after which the provider may have taken the message all the same.
AMBIGUOUS_ERRORS = frozenset({"network"})


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


def staff_alert(
    *,
    title: str,
    text: str,
    link: str = "",
    recipients: list[str] | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Email an alert to ``recipients`` and the staff alert list. Alerts carry ids
    and codes, never personal data."""
    addresses = list(dict.fromkeys([*(recipients or []), *settings.STAFF_ALERT_EMAILS]))
    for index, address in enumerate(addresses):
        message_send(
            channel=Message.Channel.EMAIL,
            purpose=Message.Purpose.STAFF_ALERT,
            recipient=address,
            template="staff_alert",
            context={"alert_title": title, "alert_text": text, "link": link},
            dedupe_key=f"{dedupe_key}:{index}" if dedupe_key else None,
        )
    if not addresses:
        logger.warning("notifications.staff_alert_unrouted", extra={"title": title})


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


def opt_out_record(*, phone: str, reason: str = OptOut.Reason.OPTED_OUT, source: str) -> bool:
    """Block SMS to ``phone``; pending texts to it are suppressed, and a form's
    consent no longer allows texting it (``sms_consent``). True if new.

    A text whose last try timed out is left to the delivery path: the provider may
    have taken it, and only the provider can tell. The next try asks it first and
    records the text as sent, or else refuses it for the opt-out (``_transport``)."""
    opt_out, created = OptOut.objects.get_or_create(
        phone_hash=phone_hash(phone),
        defaults={"phone": phone[:20], "reason": reason, "source": source[:50]},
    )
    if not created and opt_out.source == REFUSAL_OPT_OUT_SOURCE != source:
        # The person (or the carrier) stopped texts too: lifting the refusal must not
        # lift this stop.
        OptOut.objects.filter(pk=opt_out.pk).update(reason=reason, source=source[:50])
    sms_consent_restricted(phone=phone)
    suppressed = (
        Message.objects.filter(
            channel=Message.Channel.SMS,
            recipient=phone,
            status__in=[Message.Status.PENDING, Message.Status.SCHEDULED],
        )
        .exclude(error_code__in=AMBIGUOUS_ERRORS)
        .update(status=Message.Status.SUPPRESSED, error_code="opted_out")
    )
    if suppressed:
        MESSAGES.labels(Message.Channel.SMS, Message.Status.SUPPRESSED).inc(suppressed)
    if created:
        transaction.on_commit(
            lambda: opted_out.send_robust(sender=OptOut, phone=phone, reason=reason), robust=True
        )
    return created


def inbound_receive(
    *, provider_id: str, sender: str, body: str, opt_out_type: str = ""
) -> InboundMessage | None:
    """Record an SMS a person sent and act on it, once per provider id.

    STOP-like keywords (or Twilio's ``OptOutType``) opt the number out; START-like
    ones opt it back in and lift the phone's refusal, and YES does when it answers the
    clinic's invitation (``sms_consent.sms_consent_opt_in``), else it is a reply;
    HELP gets the help text, from a number in ``SMS_ALLOWED_COUNTRIES`` only. A
    request to stop in the person's own words is recorded for a coordinator, not acted
    on blindly. The apps above hear of every reply through ``reply_received``."""
    kind = replies.reply_kind(body, opt_out_type=opt_out_type)
    with transaction.atomic():
        inbound, created = InboundMessage.objects.get_or_create(
            provider_id=provider_id,
            defaults={
                "sender": sender,
                "sender_hash": phone_hash(sender),
                "body": body,
                "kind": kind,
            },
        )
        if not created:
            return None
        conversations.conversation_note_inbound(inbound=inbound)
        if kind == InboundMessage.Kind.OPT_OUT:
            opt_out_record(phone=sender, source="inbound keyword")
        elif kind == InboundMessage.Kind.OPT_IN and not sms_consent_opt_in(phone=sender, body=body):
            # A YES that answers no invitation of ours lifts nothing (STOP is lifted by
            # START only): it is an ordinary reply, for a coordinator to read.
            kind = InboundMessage.Kind.REPLY
            InboundMessage.objects.filter(pk=inbound.pk).update(kind=kind)
        elif kind == InboundMessage.Kind.HELP and sms_country_allowed(phone=sender):
            # An auto-reply only to the allowed countries: a bot texting HELP from
            # premium-rate numbers must not make us pay to answer it.
            message_send(
                channel=Message.Channel.SMS,
                purpose=Message.Purpose.REPLY,
                recipient=sender,
                template="help",
                context={},
                dedupe_key=f"help-reply:{provider_id}",
            )
        inbound_id = inbound.pk
        transaction.on_commit(
            lambda: reply_received.send_robust(
                sender=InboundMessage, inbound_id=inbound_id, phone=sender, kind=kind
            ),
            robust=True,
        )
    return inbound


# Twilio's DialCallStatus values that mean nobody at the clinic picked up.
MISSED_DIAL_STATUSES = frozenset({"no-answer", "busy", "failed", "canceled"})


def call_receive(*, provider_id: str, caller: str, called: str) -> InboundCall:
    """Record a call to a clinic number, once per call; the apps above hear of it
    (``call_received``) and record it as a request from the number's article."""
    with transaction.atomic():
        call, created = InboundCall.objects.get_or_create(
            provider_id=provider_id, defaults={"caller": caller[:20], "called": called[:20]}
        )
        if created:
            call_id = call.pk
            transaction.on_commit(
                lambda: call_received.send_robust(sender=InboundCall, call_id=call_id), robust=True
            )
    return call


def call_forward_ended(*, provider_id: str, dial_status: str) -> InboundCall | None:
    """The forward to the clinic line ended. A missed forward is announced
    (``call_missed``) once, so that someone calls the person back."""
    missed = dial_status in MISSED_DIAL_STATUSES
    with transaction.atomic():
        call = (
            InboundCall.objects.select_for_update()
            .filter(provider_id=provider_id, forward=InboundCall.Forward.PENDING)
            .first()
        )
        if call is None:
            return None
        call.forward = InboundCall.Forward.MISSED if missed else InboundCall.Forward.ANSWERED
        call.forward_ended_at = timezone.now()
        call.save(update_fields=["forward", "forward_ended_at"])
        if missed:
            call_id = call.pk
            transaction.on_commit(
                lambda: call_missed.send_robust(sender=InboundCall, call_id=call_id), robust=True
            )
    return call


# --- Erasure --------------------------------------------------------------------------

# What an erased message keeps: channel, purpose, template, status and time stamps
# (delivery statistics), nothing that names or reaches the person.
_MESSAGE_BLANK = {
    "recipient": "",
    "recipient_hash": "",
    "subject": "",
    "body": "",
    "body_html": "",
    "attachment_name": "",
    "attachment": "",
    "error_message": "",
}


def _messages_blank(messages: QuerySet[Message]) -> int:
    messages.filter(status__in=_UNSENT).update(
        status=Message.Status.SUPPRESSED, error_code="erased"
    )
    return messages.update(**_MESSAGE_BLANK)


def messages_erase(*, correlation: str) -> int:
    """Blank every message about ``correlation`` (the value given to ``message_send``);
    unsent ones are suppressed. Returns how many."""
    if not correlation:
        return 0
    return _messages_blank(Message.objects.filter(correlation=correlation))


def contact_erase(*, phones: list[str], emails: list[str]) -> dict[str, int]:
    """Forget these phone numbers and email addresses: messages to them are blanked
    (unsent ones suppressed), texts and calls from them lose sender and body, and an
    opt-out of a number keeps only its keyed hash, so it is honoured forever, as are
    refusals (which keep no plain value; a lifted one loses its note) and what the
    number said about texts (``SmsConsentState``, hash only); their inbox threads go.
    Returns counts by kind."""
    hashes = [hashed for hashed in (phone_hash(phone) for phone in phones) if hashed]
    email_hashes = [hashed for hashed in (email_hash(email) for email in emails) if hashed]
    recipients = [*phones, *emails]
    # An address's messages under any spelling of its mailbox.
    sent_to = Q(recipient__in=recipients) | Q(recipient_hash__in=[*hashes, *email_hashes])
    counts = {
        "messages": _messages_blank(Message.objects.filter(sent_to)) if recipients else 0,
        "inbound": InboundMessage.objects.filter(sender_hash__in=hashes).update(
            sender="", sender_hash="", body=""
        )
        if hashes
        else 0,
        "calls": InboundCall.objects.filter(caller__in=phones).update(caller="") if phones else 0,
        "opt_outs": OptOut.objects.filter(phone_hash__in=hashes).exclude(phone="").update(phone="")
        if hashes
        else 0,
        "refusal_notes": Refusal.objects.filter(
            Q(channel=Refusal.Channel.PHONE, value_hash__in=hashes)
            | Q(channel=Refusal.Channel.EMAIL, value_hash__in=email_hashes)
        )
        .exclude(lift_note="")
        .update(lift_note=""),
        "conversations": conversations.conversations_erase(phone_hashes=hashes),
    }
    return counts
