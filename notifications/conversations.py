"""SMS conversations: one thread per phone number, kept up to date by every text.

:func:`conversation_note_outbound` and :func:`conversation_note_inbound` are called by
``message_send`` and ``inbound_receive`` inside their own transaction, so a text and
its thread never disagree. The apps above link a thread to their lead
(:func:`conversation_link`), mark it urgent, assign it and mark it read; the inbox
reads it through the selectors at the end of this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.text import slugify

from clinic.audit import events
from clinic.crypto import phone_hash
from notifications.models import (
    CONVERSATION_READ,
    InboundMessage,
    Message,
    SmsConversation,
)

# Texts to members of staff (alerts, their phone's code) are not conversations.
STAFF_PURPOSES = frozenset({Message.Purpose.STAFF_ALERT, Message.Purpose.STAFF_CODE})
# A person's texts a coordinator has to read; keywords (STOP, START, HELP) are
# answered by the clinic itself and shown in the thread, but not counted as unread.
UNREAD_KINDS = frozenset({InboundMessage.Kind.REPLY, InboundMessage.Kind.OPT_OUT_REQUEST})


def lead_id_of(correlation: str) -> int | None:
    """The lead a message is about, from its correlation ("lead:{pk}"); None for any
    other (a request's "submission:{pk}", a staff alert's)."""
    kind, _, value = correlation.partition(":")
    return int(value) if kind == "lead" and value.isdecimal() else None


def _later(current: datetime | None, at: datetime) -> datetime:
    return max(current, at) if current else at


def _thread_for(*, phone: str, hashed: str) -> SmsConversation:
    """The number's thread, made on its first text, locked for this transaction."""
    SmsConversation.objects.get_or_create(phone_hash=hashed, defaults={"phone": phone[:20]})
    return SmsConversation.objects.select_for_update().get(phone_hash=hashed)


def conversation_note_outbound(*, message: Message) -> SmsConversation | None:
    """A text to a person was recorded (``message_send``): its thread's last message
    moves on. A text to staff, or an email, is no conversation (None)."""
    if message.channel != Message.Channel.SMS or message.purpose in STAFF_PURPOSES:
        return None
    if not message.recipient_hash:
        return None
    thread = _thread_for(phone=message.recipient, hashed=message.recipient_hash)
    at = message.created_at
    lead_id = lead_id_of(message.correlation)
    SmsConversation.objects.filter(pk=thread.pk).update(
        last_message_at=_later(thread.last_message_at, at),
        last_outbound_at=_later(thread.last_outbound_at, at),
        lead_id=lead_id if lead_id is not None else F("lead_id"),
        phone=message.recipient[:20] or F("phone"),
    )
    return thread


def conversation_note_inbound(*, inbound: InboundMessage) -> SmsConversation | None:
    """A person texted us (``inbound_receive``): the thread's last message and last
    inbound move on, and a text in their own words counts as unread."""
    if not inbound.sender_hash:
        return None
    thread = _thread_for(phone=inbound.sender, hashed=inbound.sender_hash)
    at = inbound.received_at
    SmsConversation.objects.filter(pk=thread.pk).update(
        last_message_at=_later(thread.last_message_at, at),
        last_inbound_at=_later(thread.last_inbound_at, at),
        unread_count=F("unread_count") + (1 if inbound.kind in UNREAD_KINDS else 0),
        phone=inbound.sender[:20] or F("phone"),
    )
    return thread


def conversation_link(*, phone: str, lead_id: int) -> int:
    """The apps above found the lead behind a number: its thread names it. Returns how
    many threads changed (0 when the number never texted or was texted)."""
    hashed = phone_hash(phone)
    if not hashed:
        return 0
    return (
        SmsConversation.objects.filter(phone_hash=hashed)
        .exclude(lead_id=lead_id)
        .update(lead_id=lead_id)
    )


def conversations_correlate(*, phone_hashes: list[str], correlation: str) -> int:
    """Texts to these numbers are now about ``correlation`` (``messages_recorrelate``):
    when that names a lead, their threads name it, as ``conversation_note_outbound``
    would have. Returns how many threads changed."""
    lead_id = lead_id_of(correlation)
    if lead_id is None or not phone_hashes:
        return 0
    return (
        SmsConversation.objects.filter(phone_hash__in=set(phone_hashes))
        .exclude(lead_id=lead_id)
        .update(lead_id=lead_id)
    )


def conversation_mark_urgent(*, phone: str) -> int:
    """The person's text matched a crisis rule (decided above): the thread is urgent."""
    hashed = phone_hash(phone)
    if not hashed:
        return 0
    return SmsConversation.objects.filter(phone_hash=hashed, is_urgent=False).update(is_urgent=True)


def conversations_erase(*, phone_hashes: list[str]) -> int:
    """The numbers are being forgotten (``contact_erase``): their threads go, with the
    plain number they held; their texts are blanked by the caller. Returns how many."""
    if not phone_hashes:
        return 0
    deleted, _ = SmsConversation.objects.filter(phone_hash__in=phone_hashes).delete()
    return deleted


def conversation_mark_read(*, conversation_id: int, now: datetime | None = None) -> bool:
    """A coordinator opened the thread: nothing in it is unread any more."""
    return bool(
        SmsConversation.objects.filter(pk=conversation_id).update(
            unread_count=0, last_read_at=now or timezone.now()
        )
    )


def conversation_assign(*, conversation_id: int, user_id: int | None) -> bool:
    """Give the thread to a coordinator (``user_id``), or to nobody (None)."""
    return bool(SmsConversation.objects.filter(pk=conversation_id).update(assigned_to_id=user_id))


def conversation_access_record(*, conversation: SmsConversation, what: str) -> None:
    """The audit trail: the current user was shown this thread's number and texts."""
    events.event_record(conversation, label=CONVERSATION_READ, read=what)


def conversations_access_record(*, conversations: list[SmsConversation], what: str) -> int:
    """The audit trail: a list (polled every few seconds) showed these threads' last
    texts. Recorded once per user, thread and list per
    ``AUDIT_LIST_READ_WINDOW_SECONDS``, like the lead lists; returns how many."""
    user = events.current_context().get("user")
    page = slugify(what)
    keys = {f"audit:list-read:{page}:{user}:conversation:{each.pk}": each for each in conversations}
    seen = cache.get_many(list(keys))
    fresh = [each for key, each in keys.items() if key not in seen]
    if not fresh:
        return 0
    events.events_record(fresh, label=CONVERSATION_READ, read=what)
    cache.set_many(
        dict.fromkeys((key for key in keys if key not in seen), 1),
        settings.AUDIT_LIST_READ_WINDOW_SECONDS,
    )
    return len(fresh)


def conversation_last_inbound_at(*, phone: str) -> datetime | None:
    """When the person at ``phone`` last texted us (None: never)."""
    hashed = phone_hash(phone)
    if not hashed:
        return None
    return (
        InboundMessage.objects.filter(sender_hash=hashed)
        .order_by("-received_at")
        .values_list("received_at", flat=True)
        .first()
    )


# --- Reading ------------------------------------------------------------------------


def conversation_list(
    *, assigned_to_id: int | None = None, unassigned: bool = False, unread: bool = False
) -> QuerySet[SmsConversation]:
    """Threads, most recent first: urgent ones (crisis) before the rest."""
    threads = SmsConversation.objects.filter(last_message_at__isnull=False)
    if assigned_to_id is not None:
        threads = threads.filter(assigned_to_id=assigned_to_id)
    if unassigned:
        threads = threads.filter(assigned_to__isnull=True)
    if unread:
        threads = threads.filter(unread_count__gt=0)
    return threads.select_related("assigned_to").order_by(
        "-is_urgent", F("last_message_at").desc(nulls_last=True), "-pk"
    )


def conversation_id_for_phone_hash(*, hashed: str) -> int | None:
    """The thread of the number with this lookup hash, if it has one."""
    if not hashed:
        return None
    return SmsConversation.objects.filter(phone_hash=hashed).values_list("pk", flat=True).first()


def conversation_get(*, conversation_id: int) -> SmsConversation | None:
    return SmsConversation.objects.select_related("assigned_to").filter(pk=conversation_id).first()


def conversations_unread_count() -> int:
    """How many threads have unread texts (one index-only count, for the nav)."""
    return SmsConversation.objects.filter(unread_count__gt=0).count()


@dataclass(frozen=True)
class ThreadText:
    """One text of a thread, either way."""

    at: datetime
    from_person: bool
    body: str
    status: str  # ours: the message's status; theirs: ""
    scheduled_for: datetime | None  # ours, held by quiet hours: when it goes
    sent_by: str  # ours, typed by a member of staff: their username
    kind: str  # theirs: reply, opt_out, ...


def conversation_texts(*, conversation: SmsConversation, limit: int = 200) -> list[ThreadText]:
    """The thread's texts, oldest first (the last ``limit`` each way)."""
    hashed = conversation.phone_hash
    ours = (
        Message.objects.filter(channel=Message.Channel.SMS, recipient_hash=hashed)
        .exclude(purpose__in=STAFF_PURPOSES)
        .select_related("sent_by")
        .order_by("-created_at")[:limit]
    )
    theirs = InboundMessage.objects.filter(sender_hash=hashed).order_by("-received_at")[:limit]
    texts = [
        ThreadText(
            at=message.created_at,
            from_person=False,
            body=message.body,
            status=message.status,
            scheduled_for=message.send_after
            if message.status == Message.Status.SCHEDULED
            else None,
            sent_by=message.sent_by.get_username() if message.sent_by else "",
            kind="",
        )
        for message in ours
    ]
    texts += [
        ThreadText(
            at=text.received_at,
            from_person=True,
            body=text.body,
            status="",
            scheduled_for=None,
            sent_by="",
            kind=text.kind,
        )
        for text in theirs
    ]
    return sorted(texts, key=lambda text: text.at)


def conversation_last_texts(*, conversations: list[SmsConversation]) -> dict[int, ThreadText]:
    """Each thread's last text, for the list's preview (three queries for the page)."""
    if not conversations:
        return {}
    ours = (
        Message.objects.filter(channel=Message.Channel.SMS, recipient_hash=OuterRef("phone_hash"))
        .exclude(purpose__in=STAFF_PURPOSES)
        .order_by("-created_at")
        .values("pk")[:1]
    )
    theirs = (
        InboundMessage.objects.filter(sender_hash=OuterRef("phone_hash"))
        .order_by("-received_at")
        .values("pk")[:1]
    )
    latest = SmsConversation.objects.filter(pk__in=[each.pk for each in conversations]).values(
        "pk", our=Subquery(ours), their=Subquery(theirs)
    )
    latest = list(latest)
    our_ids = {row["pk"]: row["our"] for row in latest}
    their_ids = {row["pk"]: row["their"] for row in latest}
    messages = Message.objects.in_bulk([pk for pk in our_ids.values() if pk])
    inbound = InboundMessage.objects.in_bulk([pk for pk in their_ids.values() if pk])
    last: dict[int, ThreadText] = {}
    for pk, message_id in our_ids.items():
        message = messages.get(message_id)
        if message is not None:
            last[pk] = ThreadText(
                at=message.created_at,
                from_person=False,
                body=message.body,
                status=message.status,
                scheduled_for=message.send_after
                if message.status == Message.Status.SCHEDULED
                else None,
                sent_by="",
                kind="",
            )
    for pk, inbound_id in their_ids.items():
        text = inbound.get(inbound_id)
        if text is not None and (pk not in last or last[pk].at <= text.received_at):
            last[pk] = ThreadText(
                at=text.received_at,
                from_person=True,
                body=text.body,
                status="",
                scheduled_for=None,
                sent_by="",
                kind=text.kind,
            )
    return last
