"""Refusals: a person asked the clinic not to contact them (issue 20, item 1).

A refusal belongs to the person's phone and email (their keyed hashes), not to a
lead, and no form lifts it: ``message_send`` suppresses every text and email to a
refused address (staff alerts aside), the delivery path checks again before the
provider is called, and a future automated call asks
``selectors.contact_refused`` first. Only the person lifts it, on a channel they
control: START from the phone (``sms_consent.sms_consent_opt_in``) or telling a
coordinator, who writes down what they said (:func:`refusal_lift`). Every change is
on the audit trail (``Refusal`` is audited; its hash and note never are).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.crypto import email_hash, phone_hash
from clinic.errors import ApplicationError
from notifications.metrics import MESSAGES
from notifications.models import InboundMessage, Message, OptOut, Refusal, SmsConsentState
from notifications.selectors import contact_refused, refusals_live
from notifications.services import AMBIGUOUS_ERRORS, REFUSAL_OPT_OUT_SOURCE, opt_out_record
from notifications.services.recipient_locks import recipients_stop


def _addresses(phone: object, email: str) -> list[tuple[str, str]]:
    return [
        (channel, hashed)
        for channel, hashed in (
            (Refusal.Channel.PHONE, phone_hash(phone)),
            (Refusal.Channel.EMAIL, email_hash(email)),
        )
        if hashed
    ]


def refusal_record(
    *, phone: object = "", email: str = "", recorded_by_id: int | None, source: str
) -> list[Refusal]:
    """The person at ``phone`` and ``email`` asked not to be contacted: refuse every
    automated text, email and call to either, from now on. One live refusal per
    address (one already in force stands, with its own time and author); messages not
    yet sent to them are suppressed; the phone is opted out of texts, which a form's
    consent can no longer undo (``sms_consent``). Returns the refusals in force."""
    addresses = _addresses(phone, email)
    if not addresses:
        return []
    now = timezone.now()
    with transaction.atomic():
        # What is on its way to them goes first; nothing goes after (recipient_locks).
        recipients_stop(hashes=[hashed for _channel, hashed in addresses])
        for channel, hashed in addresses:
            Refusal.objects.get_or_create(
                channel=channel,
                value_hash=hashed,
                lifted_at__isnull=True,
                defaults={"recorded_at": now, "recorded_by_id": recorded_by_id, "source": source},
            )
        unsent = (
            Message.objects.filter(
                recipient__in=[str(value) for value in (phone, email) if value],
                status__in=[Message.Status.PENDING, Message.Status.SCHEDULED],
            )
            .exclude(purpose=Message.Purpose.STAFF_ALERT)
            .exclude(error_code__in=AMBIGUOUS_ERRORS)
        )
        for channel in Message.Channel.values:
            suppressed = unsent.filter(channel=channel).update(
                status=Message.Status.SUPPRESSED, error_code="refused"
            )
            if suppressed:
                MESSAGES.labels(channel, Message.Status.SUPPRESSED).inc(suppressed)
        if phone:
            opt_out_record(phone=str(phone), source=REFUSAL_OPT_OUT_SOURCE)
    return refusals_live(
        phone_hashes=[hashed for channel, hashed in addresses if channel == Refusal.Channel.PHONE],
        email_hashes=[hashed for channel, hashed in addresses if channel == Refusal.Channel.EMAIL],
    )


def refusal_lift(*, phone: object = "", email: str = "", lifted_by_id: int, note: str) -> int:
    """A coordinator heard from the person that they want to be contacted again: the
    refusals of ``phone`` and ``email`` are lifted, with ``note`` (required: what the
    person said) and who heard it. The opt-out the refusal made goes with it, not one
    the person made by STOP (only START lifts that); texts still need the phone's own
    yes (``sms_consent``). Returns how many refusals were lifted."""
    note = note.strip()
    if not note:
        raise ApplicationError(
            "Write down what the person told you.", fields={"note": ["Required."]}
        )
    addresses = _addresses(phone, email)
    if not addresses:
        return 0
    match = Q(pk__in=[])
    for channel, hashed in addresses:
        match |= Q(channel=channel, value_hash=hashed)
    with transaction.atomic():
        lifted = Refusal.objects.filter(match, lifted_at__isnull=True).update(
            lifted_at=timezone.now(),
            lifted_by_id=lifted_by_id,
            lift_source=Refusal.LiftSource.COORDINATOR,
            lift_note=note[:2000],
        )
        hashed_phone = phone_hash(phone)
        if lifted and hashed_phone:
            OptOut.objects.filter(phone_hash=hashed_phone, source=REFUSAL_OPT_OUT_SOURCE).delete()
    return lifted


def refusal_restricted_before(*, phone: object) -> datetime | None:
    """The number's last stop before a refusal is recorded, for
    :func:`refusal_withdraw` to put back should the refusal be taken back."""
    hashed = phone_hash(phone)
    if not hashed:
        return None
    return (
        SmsConsentState.objects.filter(phone_hash=hashed)
        .values_list("restricted_at", flat=True)
        .first()
    )


def refusal_withdraw(
    *,
    phone: object = "",
    email: str = "",
    recorded_by_id: int,
    since: datetime,
    restricted_before: datetime | None,
) -> int:
    """Take back the refusals a coordinator recorded by mistake a few minutes ago (an
    undone "do not contact", ``scheduling.services.attempt_undo``): only the live ones
    of ``phone`` and ``email`` that ``recorded_by_id`` recorded at or after ``since``,
    marked lifted as ``WITHDRAWN`` by them (on the audit trail). The opt-out the
    refusal made goes with it, and the number's stop goes back to what it was before
    (``restricted_before``) — unless the person asked to stop themselves since then
    (STOP, or in their own words): theirs stands until they text START. Texts the
    refusal suppressed stay unsent. Returns how many refusals were taken back."""
    addresses = _addresses(phone, email)
    if not addresses:
        return 0
    match = Q(pk__in=[])
    for channel, hashed in addresses:
        match |= Q(channel=channel, value_hash=hashed)
    now = timezone.now()
    with transaction.atomic():
        withdrawn = Refusal.objects.filter(
            match, lifted_at__isnull=True, recorded_by_id=recorded_by_id, recorded_at__gte=since
        ).update(
            lifted_at=now, lifted_by_id=recorded_by_id, lift_source=Refusal.LiftSource.WITHDRAWN
        )
        hashed_phone = phone_hash(phone)
        if not (withdrawn and hashed_phone):
            return withdrawn
        asked = InboundMessage.objects.filter(
            sender_hash=hashed_phone,
            kind__in=[InboundMessage.Kind.OPT_OUT, InboundMessage.Kind.OPT_OUT_REQUEST],
            received_at__gte=since,
        ).exists()
        if asked or contact_refused(phone=phone):
            return withdrawn
        OptOut.objects.filter(
            phone_hash=hashed_phone, source=REFUSAL_OPT_OUT_SOURCE, created_at__gte=since
        ).delete()
        SmsConsentState.objects.filter(phone_hash=hashed_phone, restricted_at__gte=since).update(
            restricted_at=restricted_before
        )
    return withdrawn
