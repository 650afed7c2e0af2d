"""Messages: what one says (rendered from its template, checked for health wording),
recording one to send (``message_send``) and handing it to the workers, staff alerts,
and erasing messages and the contact details they reached.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.template import engines
from django.template.loader import get_template
from django.utils import timezone

from clinic.audit import events
from clinic.crypto import email_hash, phone_hash
from clinic.workers import enqueue
from notifications import conversations, quiet_hours
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
from notifications.selectors import contact_refused, recipient_hash
from notifications.services.opt_outs import opt_out_exists
from notifications.services.retries import retry_give_up_at
from notifications.wording import ALLOWED_CONTEXT, wording_problems

logger = logging.getLogger(__name__)

# Answers to something the person just did go at once; everything else waits
# for the person's daytime.
QUIET_HOURS_EXEMPT = frozenset(
    {Message.Purpose.CONFIRMATION, Message.Purpose.REPLY, Message.Purpose.STAFF_CODE}
)
# Messages to members of staff: not checked as messages to a person, never about a lead.
STAFF_PURPOSES = frozenset({Message.Purpose.STAFF_ALERT, Message.Purpose.STAFF_CODE})

# A message not handed to the provider yet.
UNSENT = [Message.Status.PENDING, Message.Status.SCHEDULED]


def message_access_record(*, message: Message | InboundMessage, what: str) -> None:
    """Record on the audit trail that the current user was shown ``message`` (its
    recipient or sender and its body) by ``what``."""
    events.event_record(message, label=MESSAGE_READ, read=what)


# --- Wording ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    body_html: str
    version: int | None


# The newest active version of each edited template, read once for every message this
# process renders in the next MESSAGE_TEMPLATE_CACHE_SECONDS (an edit in admin reaches
# every worker within that; the process that saves it at once, message_templates_forget).
_edited: dict[tuple[str, str], MessageTemplate] | None = None
_edited_until = 0.0
_edited_lock = threading.Lock()


def _active_template(name: str, channel: str) -> MessageTemplate | None:
    global _edited, _edited_until
    with _edited_lock:
        if _edited is None or time.monotonic() >= _edited_until:
            newest: dict[tuple[str, str], MessageTemplate] = {}
            for edited in MessageTemplate.objects.filter(is_active=True).order_by(
                "name", "channel", "-version"
            ):
                newest.setdefault((edited.name, edited.channel), edited)
            _edited = newest
            _edited_until = time.monotonic() + settings.MESSAGE_TEMPLATE_CACHE_SECONDS
        return _edited.get((name, channel))


def message_templates_forget(**_signal: object) -> None:
    """Read the edited templates again before the next message (a version was saved)."""
    global _edited
    with _edited_lock:
        _edited = None


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


def recipient_refused(*, channel: str, purpose: str, recipient: str) -> bool:
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
    (``quiet_hours.quiet_hours_apply``), waits for the end of quiet hours in the
    person's time zone (``recipient_time_zone``, else the number's). ``sent_by_id``
    names the member of staff whose words it carries. Every text updates its number's
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
    refused = recipient_refused(channel=channel, purpose=purpose, recipient=recipient)
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


def message_enqueue(*, message_id: int, eta: datetime | None = None) -> bool:
    """Hand a message to the workers (at ``eta``: its next try); if the broker is down
    it stays pending and ``messages_sweep`` hands it over later."""
    return enqueue("notifications.tasks.message_deliver", message_id, eta=eta)


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


def messages_cancel(*, dedupe_key_prefix: str) -> int:
    """Suppress the messages not sent yet whose ``dedupe_key`` starts with
    ``dedupe_key_prefix`` (the reminders of a cancelled appointment): they are never
    sent (``error_code`` "cancelled"). Sent ones are left as they are. Returns how many."""
    if not dedupe_key_prefix:
        return 0
    return Message.objects.filter(
        dedupe_key__startswith=dedupe_key_prefix,
        status__in=[Message.Status.PENDING, Message.Status.SCHEDULED],
    ).update(status=Message.Status.SUPPRESSED, error_code="cancelled")


# --- Correlation ----------------------------------------------------------------------

# One statement: the messages move and say which were texts to a person.
_RECORRELATE_SQL = """
UPDATE {table} SET correlation = %s WHERE correlation = %s
RETURNING channel, purpose, recipient_hash
"""


def messages_recorrelate(*, correlation: str, to: str) -> int:
    """The caller learnt who ``correlation`` was about (a request's confirmations were
    recorded before it was attached to its lead): every message recorded under it is
    about ``to`` from now on, for the timeline, erasure and conversations alike, and
    the threads of its texts name ``to``'s lead, as a text recorded under ``to`` would
    have (``conversations.conversation_note_outbound``). Returns how many moved."""
    if not correlation or not to or correlation == to:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORRELATE_SQL.format(table=connection.ops.quote_name(Message._meta.db_table)),
            [to, correlation],
        )
        moved = cursor.fetchall()
    texted = [
        hashed
        for channel, purpose, hashed in moved
        if channel == Message.Channel.SMS and purpose not in STAFF_PURPOSES and hashed
    ]
    conversations.conversations_correlate(phone_hashes=texted, correlation=to)
    return len(moved)


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
    messages.filter(status__in=UNSENT).update(status=Message.Status.SUPPRESSED, error_code="erased")
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
