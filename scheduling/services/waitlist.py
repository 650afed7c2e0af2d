"""The waitlist: putting a person on it, taking them off, and offering open times.

A coordinator puts a person on the waitlist (``waitlist_add``, the one way in) only
when no consultation time is open in the person's window (``WAITLIST_AFTER_DAYS``
from the first day they can come): otherwise they book it. When a time opens in
someone's window (a cancellation, a move, new hours, or time passing), the offer
sweep (``waitlist_offers_make``, run by the ``waitlist_offers_make`` task on every
such change and every five minutes) texts it to the first ``WAITLIST_OFFER_BATCH``
people waiting, in the order they were added, whose window it falls in and who may
be texted a link that books their care (a proven phone, consent, no STOP or refusal).
Each person has at most one open offer, so two times that open together go to
different people; nobody is offered the same time twice. The first to accept gets it
(``waitlist_offers.waitlist_offer_accept``); the others are told it was taken and
keep their place. An offer nobody took expires ``WAITLIST_OFFER_HOURS`` after its
texts went out (texts wait out quiet hours, so a time opened at night is offered from
the morning), or when the time's booking notice runs out, and the time goes to the
next people.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from clinic import business_time
from clinic.errors import ApplicationError
from clinic.workers import enqueue
from intake import selectors as intake_selectors
from intake import services as intake_services
from notifications.models import Message
from scheduling import links
from scheduling.models import (
    Appointment,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOfferRecipient,
)
from scheduling.selectors import waitlist as waitlist_selectors
from scheduling.selectors.consultations import Slot, slots_available
from scheduling.services.appointment_messages import appointment_when
from scheduling.services.outreach import lead_message
from scheduling.services.places import MODALITY_WORDS

logger = logging.getLogger(__name__)

NOTE_MAX = 1000
# An offer the person would have less time than this to answer is not made.
OFFER_ANSWER_MIN = timedelta(minutes=30)
# The most open times one sweep looks at (every clinician's, over every window).
SLOTS_SCANNED = 5000
# How far ahead a person may say they can first come.
EARLIEST_DATE_MAX_DAYS = 366


class BookInstead(ApplicationError):
    """A time is open in the person's window: book it rather than wait (a 400 that
    carries the first open times)."""

    def __init__(self, *, next_slots: list[Slot]) -> None:
        super().__init__(
            f"A consultation time is open within {settings.WAITLIST_AFTER_DAYS} days of "
            "the earliest date: book it instead.",
            code="book_instead",
            fields={"earliest_date": ["Times are open in this window: book one."]},
        )
        self.next_slots = next_slots


@dataclass(frozen=True)
class WaitlistRequest:
    """What a coordinator asks, checked once (``waitlist_check``)."""

    reason: str
    earliest_date: date
    note: str
    modality: str


def waitlist_check(
    *, reason: str, earliest_date: date | None, note: str = "", modality: str = ""
) -> WaitlistRequest:
    """The request to put a person on the waitlist, or ``ApplicationError`` (400) with
    every field's problem: a reason from ``WAITLIST_REASONS``, an earliest date from
    today (clinic time) to a year ahead (default today), a note of at most 1000
    characters, and a modality the clinic offers (empty: its default)."""
    today = timezone.localdate(timezone=business_time.clinic_zone())
    earliest_date = earliest_date or today
    problems: dict[str, list[str]] = {}
    if reason not in settings.WAITLIST_REASONS:
        problems["reason"] = [f"Choose one of: {', '.join(settings.WAITLIST_REASONS)}."]
    if earliest_date < today:
        problems["earliest_date"] = ["Today or later."]
    elif earliest_date > today + timedelta(days=EARLIEST_DATE_MAX_DAYS):
        problems["earliest_date"] = ["At most a year ahead."]
    note = note.strip()
    if len(note) > NOTE_MAX:
        problems["note"] = [f"At most {NOTE_MAX} characters."]
    if modality and (
        modality not in Appointment.Modality.values
        or (modality == Appointment.Modality.VIDEO and not settings.VIDEO_ROOM_URL)
    ):
        problems["modality"] = ["Not a way the clinic holds consultations."]
    if problems:
        raise ApplicationError("Some fields are not valid.", fields=problems)
    return WaitlistRequest(reason=reason, earliest_date=earliest_date, note=note, modality=modality)


def waitlist_add(*, lead_id: int, request: WaitlistRequest, added_by_id: int) -> WaitlistEntry:
    """Put the lead on the waitlist: the one way in, so the funnel's "waitlisted" step
    (``intake.services.lead_stage_reach``, with its webhooks) is reached here. Refused
    with ``BookInstead`` (400, with the open times) when a time is open in the person's
    window, found by the same slot finder as booking; 404 for no such lead; 409 when
    the lead already waits or has a consultation booked. Offers go by text to a proven
    phone only: a person whose phone is not verified waits, and is offered nothing
    until it is."""
    if not intake_selectors.lead_exists(lead_id=lead_id):
        raise ApplicationError("No such lead.", code="not_found", status_code=404)
    if waitlist_selectors.lead_has_upcoming_appointment(lead_id=lead_id):
        raise ApplicationError(
            "This person has a consultation booked.", code="already_booked", status_code=409
        )
    open_slots = waitlist_selectors.waitlist_slots_open(
        earliest_date=request.earliest_date, limit=3
    )
    if open_slots:
        raise BookInstead(next_slots=open_slots)
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                lead_id=lead_id,
                reason=request.reason,
                note=request.note,
                earliest_date=request.earliest_date,
                modality=request.modality,
                created_by_id=added_by_id,
            )
            intake_services.lead_stage_reach(
                lead_id=lead_id, stage=intake_services.WAITLISTED, at=entry.created_at
            )
    except IntegrityError:
        raise ApplicationError(
            "This person is on the waitlist already.", code="already_waiting", status_code=409
        ) from None
    logger.info("waitlist.added", extra={"entry_id": entry.pk})
    return entry


def waitlist_remove(*, entry_id: int, removed_by_id: int | None) -> bool:
    """Take a person off the waitlist (a coordinator, or the person from their offer's
    link: less contact, so anyone holding it may). An offer they were sent no longer
    books anything for them. False when they were not waiting."""
    with transaction.atomic():
        removed = WaitlistEntry.objects.filter(pk=entry_id, status__in=WaitlistEntry.LIVE).update(
            status=WaitlistEntry.Status.REMOVED,
            removed_by_id=removed_by_id,
            closed_at=timezone.now(),
        )
        if removed:
            offers_without_takers_close()
    return bool(removed)


def waitlist_offers_kick() -> None:
    """A time may have opened (a cancellation, a move, new hours): run the offer sweep
    once the current transaction commits (the periodic run makes up for a lost kick)."""
    transaction.on_commit(lambda: enqueue("scheduling.tasks.waitlist_offers_make"), robust=True)


def waitlist_offers_expire() -> int:
    """Offers nobody accepted in time expire; their people wait for the next time.
    Returns how many expired."""
    now = timezone.now()
    with transaction.atomic():
        expired = list(
            WaitlistOffer.objects.select_for_update(skip_locked=True)
            .filter(status=WaitlistOffer.Status.OPEN, expires_at__lte=now)
            .values_list("pk", flat=True)
        )
        if not expired:
            return 0
        WaitlistOffer.objects.filter(pk__in=expired).update(
            status=WaitlistOffer.Status.EXPIRED, closed_at=now
        )
        entries_wait_again(offer_ids=expired)
    return len(expired)


def entries_wait_again(*, offer_ids: list[int]) -> None:
    """The people of these closed offers are waiting again (those not booked or
    removed meanwhile)."""
    WaitlistEntry.objects.filter(
        status=WaitlistEntry.Status.OFFERED,
        pk__in=WaitlistOfferRecipient.objects.filter(offer_id__in=offer_ids).values("entry_id"),
    ).update(status=WaitlistEntry.Status.ACTIVE)


def offers_without_takers_close() -> None:
    """Open offers whose every person declined or left the waitlist are withdrawn, so
    the sweep may offer the time to the next people."""
    now = timezone.now()
    open_offers = WaitlistOffer.objects.filter(status=WaitlistOffer.Status.OPEN)
    takers = WaitlistOfferRecipient.objects.filter(
        offer__status=WaitlistOffer.Status.OPEN,
        declined_at__isnull=True,
        entry__status__in=WaitlistEntry.LIVE,
    ).values("offer_id")
    closed = list(open_offers.exclude(pk__in=takers).values_list("pk", flat=True))
    if closed:
        WaitlistOffer.objects.filter(pk__in=closed, status=WaitlistOffer.Status.OPEN).update(
            status=WaitlistOffer.Status.WITHDRAWN, closed_at=now
        )
        entries_wait_again(offer_ids=closed)


def _offers_of_booked_times_close() -> None:
    """Open offers of times booked another way meanwhile (a coordinator booked someone
    into them) are withdrawn: their links say the time was taken."""
    booked = Appointment.objects.filter(
        status__in=Appointment.ACTIVE,
        clinician_id=OuterRef("clinician_id"),
        starts_at=OuterRef("starts_at"),
    )
    gone = list(
        WaitlistOffer.objects.filter(status=WaitlistOffer.Status.OPEN)
        .filter(Exists(booked))
        .values_list("pk", flat=True)
    )
    if gone:
        WaitlistOffer.objects.filter(pk__in=gone, status=WaitlistOffer.Status.OPEN).update(
            status=WaitlistOffer.Status.WITHDRAWN, closed_at=timezone.now()
        )
        entries_wait_again(offer_ids=gone)


def _waiting_people_settle() -> list[WaitlistEntry]:
    """The people waiting without an open offer, in waitlist order, each one the sweep
    may text now. Someone booked meanwhile (by a coordinator, or their own link) leaves
    the waitlist as booked."""
    now = timezone.now()
    booked = Appointment.objects.filter(status__in=Appointment.ACTIVE, starts_at__gt=now).values(
        "lead_id"
    )
    WaitlistEntry.objects.filter(status=WaitlistEntry.Status.ACTIVE, lead_id__in=booked).update(
        status=WaitlistEntry.Status.BOOKED, closed_at=now
    )
    return [
        entry
        for entry in waitlist_selectors.waitlist_entries_live().filter(
            status=WaitlistEntry.Status.ACTIVE
        )
        if waitlist_selectors.lead_offer_reachable(lead_id=entry.lead_id)
    ]


def waitlist_offers_make() -> int:
    """Offer the open times in waiting people's windows to them, in waitlist order (see
    the module's docstring). Expired offers are closed first. Safe to run at any time
    and concurrently: a person is claimed with a row lock before an offer names them,
    and a time has one open offer at most (a unique constraint). Returns how many
    offers were made."""
    waitlist_offers_expire()
    offers_without_takers_close()
    _offers_of_booked_times_close()
    waiting = _waiting_people_settle()
    if not waiting:
        return 0
    windows = {
        entry.pk: waitlist_selectors.waitlist_window(earliest_date=entry.earliest_date)
        for entry in waiting
    }
    start = min(opens for opens, _ in windows.values())
    end = max(closes for _, closes in windows.values())
    offered_now = waitlist_selectors.waitlist_times_open_offered()
    offered_before = waitlist_selectors.waitlist_times_offered()
    made = 0
    for slot in slots_available(start=start, end=end, limit=SLOTS_SCANNED):
        if not waiting:
            break
        if (slot.clinician_id, slot.starts_at) in offered_now:
            continue
        batch = [
            entry
            for entry in waiting
            if windows[entry.pk][0] <= slot.starts_at < windows[entry.pk][1]
            and (entry.pk, slot.clinician_id, slot.starts_at) not in offered_before
        ][: settings.WAITLIST_OFFER_BATCH]
        if not batch:
            continue
        offered = _offer_make(slot=slot, batch=batch)
        if offered:
            made += 1
            waiting = [entry for entry in waiting if entry.pk not in offered]
    if made:
        logger.info("waitlist.offers_made", extra={"offers": made})
    return made


class _NoTimeToAnswer(Exception):
    """The offer's texts would reach people too late to answer: made not at all."""


def _offer_make(*, slot: Slot, batch: list[WaitlistEntry]) -> set[int]:
    """Offer ``slot`` to the people of ``batch`` still waiting without an offer, in one
    transaction with their texts. The offer stays open ``WAITLIST_OFFER_HOURS`` from
    when the last of its texts goes out (a text made at night waits for the person's
    morning), and never past the time's booking notice. Returns the entries it went to
    (none when another sweep claimed them or offered the time first, or when nobody
    would have time to answer)."""
    now = timezone.now()
    last_moment = slot.starts_at - settings.BOOKING_MIN_NOTICE
    if last_moment - now < OFFER_ANSWER_MIN:
        return set()
    try:
        with transaction.atomic():
            claimed = list(
                WaitlistEntry.objects.select_for_update(skip_locked=True)
                .filter(pk__in=[entry.pk for entry in batch], status=WaitlistEntry.Status.ACTIVE)
                .select_related("lead")
                .order_by("created_at", "id")
            )
            if not claimed:
                return set()
            offer = WaitlistOffer.objects.create(
                clinician_id=slot.clinician_id,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                expires_at=last_moment,
            )
            WaitlistEntry.objects.filter(pk__in=[entry.pk for entry in claimed]).update(
                status=WaitlistEntry.Status.OFFERED
            )
            goes_out = now
            for entry in claimed:
                WaitlistOfferRecipient.objects.create(offer=offer, entry=entry)
                for message in _offer_text(offer=offer, entry=entry):
                    goes_out = max(goes_out, message.send_after or now)
            if last_moment - goes_out < OFFER_ANSWER_MIN:
                raise _NoTimeToAnswer
            offer.expires_at = min(
                goes_out + timedelta(hours=settings.WAITLIST_OFFER_HOURS), last_moment
            )
            offer.save(update_fields=["expires_at"])
    except IntegrityError:
        return set()  # another sweep offered this time first
    except _NoTimeToAnswer:
        return set()
    return {entry.pk for entry in claimed}


def _offer_text(*, offer: WaitlistOffer, entry: WaitlistEntry) -> list[Message]:
    """Text the offer to the person's proven phone (texts wait out quiet hours in their
    zone; discreet wording when they asked; the crisis wording when they need it). The
    text is not sent at all once the time can no longer be booked."""
    modality = entry.modality or settings.CONSULTATION_DEFAULT_MODALITY
    return lead_message(
        lead=entry.lead,
        purpose=Message.Purpose.FOLLOW_UP,
        template="waitlist_offer",
        context={
            "appointment_time": offer_when(offer=offer, tz_name=entry.lead.timezone),
            "appointment_modality": MODALITY_WORDS[Appointment.Modality(modality)],
            "manage_url": links.waitlist_offer_url(offer_id=offer.pk, entry_id=entry.pk),
        },
        key=waitlist_selectors.waitlist_offer_text_key(offer_id=offer.pk, entry_id=entry.pk),
        email=False,
        give_up_at=offer.expires_at,
        verified_only=True,
    )


def waitlist_taken_text(*, offer: WaitlistOffer, entry: WaitlistEntry) -> None:
    """Tell a person their offered time went to someone else; they keep their place."""
    lead_message(
        lead=entry.lead,
        purpose=Message.Purpose.FOLLOW_UP,
        template="waitlist_taken",
        context={"appointment_time": offer_when(offer=offer, tz_name=entry.lead.timezone)},
        key=f"waitlist-taken:{offer.pk}:{entry.pk}",
        email=False,
        # Old news after the time itself.
        give_up_at=offer.starts_at,
        verified_only=True,
    )


def offer_when(*, offer: WaitlistOffer, tz_name: str) -> str:
    """The offered time in the person's zone, as every appointment message says it."""
    return appointment_when(Appointment(starts_at=offer.starts_at), tz_name)


def waitlist_lead_erase(*, lead_id: int) -> None:
    """A lead's personal data is being erased: their notes are blanked and they leave
    the waitlist (no offer is made or taken for them any more)."""
    now = timezone.now()
    WaitlistEntry.objects.filter(lead_id=lead_id).exclude(note="").update(note="")
    WaitlistEntry.objects.filter(lead_id=lead_id, status__in=WaitlistEntry.LIVE).update(
        status=WaitlistEntry.Status.REMOVED, closed_at=now
    )
    offers_without_takers_close()
