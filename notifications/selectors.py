"""Reading messages: the dev outbox, a lead's timeline, the sweep."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import phonenumbers
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from clinic.crypto import email_hash, phone_hash
from notifications.models import (
    InboundCall,
    InboundMessage,
    Message,
    OptOut,
    Refusal,
    SmsConsentState,
)


def sms_country_allowed(*, phone: phonenumbers.PhoneNumber | str) -> bool:
    """``phone`` (parsed, or in E.164) is a number of a country in
    ``SMS_ALLOWED_COUNTRIES``. Texts elsewhere are where SMS pumping pays (premium and
    international rates), so nothing automatic goes there."""
    number = phone
    if not isinstance(number, phonenumbers.PhoneNumber):
        try:
            number = phonenumbers.parse(str(phone), None)
        except phonenumbers.NumberParseException:
            return False
    return phonenumbers.region_code_for_number(number) in settings.SMS_ALLOWED_COUNTRIES


def recipient_hash(*, channel: str, recipient: str) -> str:
    """The keyed hash of a message's recipient: its number's, or its mailbox's."""
    if channel == Message.Channel.EMAIL:
        return email_hash(recipient)
    return phone_hash(recipient)


def message_list(*, correlation: str = "", limit: int = 200) -> QuerySet[Message]:
    messages = Message.objects.order_by("-created_at")
    if correlation:
        messages = messages.filter(correlation=correlation)
    return messages[:limit]


def message_sent_recently(*, channel: str, purpose: str, recipient: str, since: datetime) -> bool:
    """Whether a message of this kind went (or is going) to ``recipient`` since ``since``:
    to its number, or to its mailbox however the address was spelled."""
    hashed = recipient_hash(channel=channel, recipient=recipient)
    if not hashed:
        return False
    return (
        Message.objects.filter(
            channel=channel, purpose=purpose, recipient_hash=hashed, created_at__gte=since
        )
        .exclude(status__in=[Message.Status.FAILED, Message.Status.SUPPRESSED])
        .exists()
    )


def messages_due(*, older_than: datetime, now: datetime | None = None) -> QuerySet[Message]:
    """Messages due for a try that no worker picked up: pending ones older than
    ``older_than`` (a younger one still has its own task coming), scheduled ones past
    their time and their next try, and unsent ones past their retry budget (to be
    failed)."""
    now = now or timezone.now()
    scheduled_due = (
        Q(status=Message.Status.SCHEDULED)
        & (Q(send_after__isnull=False) | Q(next_attempt_at__isnull=False))
        & ~Q(send_after__gt=now)
        & ~Q(next_attempt_at__gt=now)
    )
    return Message.objects.filter(
        Q(status=Message.Status.PENDING, created_at__lt=older_than) & ~Q(next_attempt_at__gt=now)
        | scheduled_due
        | Q(status__in=[Message.Status.PENDING, Message.Status.SCHEDULED], give_up_at__lte=now)
    )


def message_ids_stuck(*, older_than: datetime, limit: int = 500) -> dict[str, list[int]]:
    """Messages a worker should have finished by now: ``due`` ones never picked up
    (:func:`messages_due`) and ``sending`` ones whose worker died."""
    due = messages_due(older_than=older_than).order_by("created_at")
    sending = Message.objects.filter(status=Message.Status.SENDING, sending_at__lt=older_than)
    return {
        "due": list(due.values_list("pk", flat=True)[:limit]),
        "sending": list(sending.values_list("pk", flat=True)[:limit]),
    }


def inbound_get(*, inbound_id: int) -> InboundMessage | None:
    return InboundMessage.objects.filter(pk=inbound_id).first()


def inbound_list(*, phone: str, limit: int = 50) -> QuerySet[InboundMessage]:
    hashed = phone_hash(phone)
    if not hashed:
        return InboundMessage.objects.none()
    return InboundMessage.objects.filter(sender_hash=hashed).order_by("-received_at")[:limit]


def sms_block_get(*, phone: str) -> OptOut | None:
    """Why no SMS may go to ``phone`` (opted out, carrier opt-out, unusable), if so."""
    hashed = phone_hash(phone)
    return OptOut.objects.filter(phone_hash=hashed).first() if hashed else None


def messages_undelivered(*, correlation: str, limit: int = 20) -> QuerySet[Message]:
    """Messages about ``correlation`` that will not reach the person (failed for good,
    or the carrier reported them undelivered), newest first: for staff to follow up."""
    if not correlation:
        return Message.objects.none()
    return (
        Message.objects.filter(
            correlation=correlation,
            status__in=[Message.Status.FAILED, Message.Status.UNDELIVERED],
        )
        .exclude(purpose__in=[Message.Purpose.STAFF_ALERT, Message.Purpose.STAFF_CODE])
        .order_by("-failed_at", "-pk")[:limit]
    )


def message_get(*, message_id: int) -> Message | None:
    return Message.objects.filter(pk=message_id).first()


def message_exists(*, dedupe_key: str) -> bool:
    return Message.objects.filter(dedupe_key=dedupe_key).exists()


def message_recipient_hash(*, dedupe_key: str) -> str | None:
    """The keyed hash of where the message sent under ``dedupe_key`` went (None for no
    such message): a link it carried opens only while the person still has that."""
    return (
        Message.objects.filter(dedupe_key=dedupe_key)
        .values_list("recipient_hash", flat=True)
        .first()
    )


def message_going(*, dedupe_key: str) -> bool:
    """A message with this key went, or is on its way (not suppressed, not failed)."""
    return (
        Message.objects.filter(dedupe_key=dedupe_key)
        .exclude(status__in=[Message.Status.SUPPRESSED, Message.Status.FAILED])
        .exists()
    )


def message_ids_unsent(*, dedupe_keys: list[str]) -> list[int]:
    """The messages with these keys not handed to the provider yet (pending), by id."""
    return list(
        Message.objects.filter(dedupe_key__in=dedupe_keys, status=Message.Status.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def call_get(*, call_id: int) -> InboundCall | None:
    return InboundCall.objects.filter(pk=call_id).first()


# --- Refusals and what a number said about texts -------------------------------------


def refusals_live(
    *, phone_hashes: Iterable[str] = (), email_hashes: Iterable[str] = ()
) -> list[Refusal]:
    """The refusals in force for any of these phone or email hashes, oldest first."""
    phones = [hashed for hashed in phone_hashes if hashed]
    emails = [hashed for hashed in email_hashes if hashed]
    if not (phones or emails):
        return []
    match = Q(pk__in=[])
    if phones:
        match |= Q(channel=Refusal.Channel.PHONE, value_hash__in=phones)
    if emails:
        match |= Q(channel=Refusal.Channel.EMAIL, value_hash__in=emails)
    return list(
        Refusal.objects.filter(match, lifted_at__isnull=True)
        .select_related("recorded_by")
        .order_by("recorded_at", "pk")
    )


def refusal_for(*, phone: object = "", email: str = "") -> Refusal | None:
    """The refusal in force for ``phone`` or ``email``, if any."""
    found = refusals_live(phone_hashes=[phone_hash(phone)], email_hashes=[email_hash(email)])
    return found[0] if found else None


def contact_refused(*, phone: object = "", email: str = "") -> bool:
    """Whether the person at ``phone`` or ``email`` asked not to be contacted. Every
    automated text, email and call to a person asks this first (``message_send`` does
    for messages; a future automated call must too)."""
    return refusal_for(phone=phone, email=email) is not None


def sms_consent_state_get(*, phone: object) -> SmsConsentState | None:
    """What the number itself said about texts (stops, its own yes, the invitation)."""
    hashed = phone_hash(phone)
    return SmsConsentState.objects.filter(phone_hash=hashed).first() if hashed else None


# Statuses of a text the provider took: it left the clinic.
_SENT = (Message.Status.SENT, Message.Status.DELIVERED)


def sms_exchange_at(
    *, phone_hash: str, since: datetime, templates: Iterable[str]
) -> datetime | None:
    """When the first two-way text exchange with the number of ``phone_hash`` since
    ``since`` completed: a text of ours in one of ``templates`` (a coordinator's own
    words) that left, and a reply from that number after it; or the person's reply and
    then such a text. The moment is the second message's (a reply's ``received_at``, a
    text's ``sent_at``); None while there is no such pair. Keywords (STOP, HELP, YES)
    are not replies, and neither are automatic texts."""
    if not phone_hash:
        return None
    ours = sorted(
        Message.objects.filter(
            channel=Message.Channel.SMS,
            purpose=Message.Purpose.REPLY,
            template__in=list(templates),
            status__in=_SENT,
            recipient_hash=phone_hash,
            sent_at__gte=since,
        ).values_list("sent_at", flat=True)
    )
    if not ours:
        return None
    theirs = sorted(
        InboundMessage.objects.filter(
            kind=InboundMessage.Kind.REPLY, sender_hash=phone_hash, received_at__gte=since
        ).values_list("received_at", flat=True)
    )
    if not theirs:
        return None
    # A reply after our first text, or our first text after their first reply.
    candidates = [moment for moment in theirs if moment > ours[0]]
    candidates += [moment for moment in ours if moment > theirs[0]]
    return min(candidates, default=None)
