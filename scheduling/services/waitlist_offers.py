"""A waiting person's answer to an offered time, from the link in its text: accept it
(the first to accept gets it), decline it, or leave the waitlist.

Accepting is one transaction: one conditional update of the offer
(``accepted_entry`` set only while it is still empty, open and unexpired) and the
booking itself (``appointment_book``, whose "no double booking" constraint also
refuses a time a coordinator booked meanwhile). Two people accepting at once: the
second update waits for the first's row lock, then finds ``accepted_entry`` set and
changes nothing, so exactly one appointment exists. The others are texted that the
time was taken and keep their place on the waitlist.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer, WaitlistOfferRecipient
from scheduling.selectors import waitlist as waitlist_selectors
from scheduling.services.appointment_moves import SlotTaken, next_open_slots
from scheduling.services.consultations import appointment_book
from scheduling.services.waitlist import (
    entries_wait_again,
    offers_without_takers_close,
    waitlist_remove,
    waitlist_taken_text,
)

logger = logging.getLogger(__name__)


def _gone(*, offer_id: int) -> SlotTaken:
    """Why an offer can no longer be accepted: someone else has it, or it expired."""
    offer = WaitlistOffer.objects.get(pk=offer_id)
    expired = offer.status == WaitlistOffer.Status.EXPIRED or (
        offer.status == WaitlistOffer.Status.OPEN and offer.expires_at <= timezone.now()
    )
    if expired:
        return SlotTaken(
            "This offer has expired.",
            code="offer_expired",
            next_slots=next_open_slots(clinician_id=None),
        )
    return SlotTaken(
        "Someone else took this time first.",
        code="offer_taken",
        next_slots=next_open_slots(clinician_id=None),
    )


def waitlist_offer_accept(*, offer_id: int, entry_id: int) -> Appointment:
    """Book the offered time for the waiting person (see the module's docstring). Raises
    ``ApplicationError``: 404 for no such offer to this person (or one whose link no
    longer speaks for them: ``waitlist_offer_link_opens``), 409 (``not_waiting``,
    ``declined``, ``already_booked``) when they left the waitlist, declined it or have
    a consultation already; ``SlotTaken`` (409, with the next open times) when someone
    else has it (``offer_taken``) or it expired (``offer_expired``). A refusal changes
    nothing, except that an offer whose time went another way is withdrawn."""
    view = waitlist_selectors.waitlist_offer_view(offer_id=offer_id, entry_id=entry_id)
    if view is None or not waitlist_selectors.waitlist_offer_link_opens(view=view):
        raise ApplicationError("No such offer.", code="not_found", status_code=404)
    entry, offer = view.entry, view.offer
    if entry.status not in WaitlistEntry.LIVE:
        raise ApplicationError(
            "You are no longer on the waitlist.", code="not_waiting", status_code=409
        )
    if view.recipient.declined_at is not None:
        raise ApplicationError("You declined this time.", code="declined", status_code=409)
    if waitlist_selectors.lead_has_upcoming_appointment(lead_id=entry.lead_id):
        raise ApplicationError(
            "You have a consultation booked already.", code="already_booked", status_code=409
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            won = WaitlistOffer.objects.filter(
                pk=offer_id,
                status=WaitlistOffer.Status.OPEN,
                accepted_entry__isnull=True,
                expires_at__gt=now,
            ).update(
                status=WaitlistOffer.Status.ACCEPTED,
                accepted_entry_id=entry_id,
                accepted_at=now,
                closed_at=now,
            )
            if not won:
                raise _gone(offer_id=offer_id)
            if not WaitlistEntry.objects.filter(pk=entry_id, status__in=WaitlistEntry.LIVE).update(
                status=WaitlistEntry.Status.BOOKED, closed_at=now
            ):
                raise ApplicationError(
                    "You are no longer on the waitlist.", code="not_waiting", status_code=409
                )
            appointment = appointment_book(
                lead_id=entry.lead_id,
                clinician_id=offer.clinician_id,
                starts_at=offer.starts_at,
                booked_by_id=None,
                modality=entry.modality or None,
            )
            WaitlistOffer.objects.filter(pk=offer_id).update(appointment=appointment)
            _others_told(offer=offer, taker_id=entry_id)
    except SlotTaken as error:
        if error.code in ("offer_taken", "offer_expired"):
            raise
        # The time went another way (a coordinator booked it): nobody can have it now.
        with transaction.atomic():
            if WaitlistOffer.objects.filter(pk=offer_id, status=WaitlistOffer.Status.OPEN).update(
                status=WaitlistOffer.Status.WITHDRAWN, closed_at=timezone.now()
            ):
                entries_wait_again(offer_ids=[offer_id])
        raise SlotTaken(
            "This time was just booked by someone else.",
            code="offer_taken",
            next_slots=error.next_slots,
        ) from None
    logger.info("waitlist.offer_accepted", extra={"offer_id": offer_id, "entry_id": entry_id})
    return appointment


def _others_told(*, offer: WaitlistOffer, taker_id: int) -> None:
    """The offer's other people wait again, and those still waiting who did not decline
    are texted that the time was taken."""
    entries_wait_again(offer_ids=[offer.pk])
    others = (
        WaitlistOfferRecipient.objects.filter(offer=offer, declined_at__isnull=True)
        .exclude(entry_id=taker_id)
        .select_related("entry", "entry__lead")
    )
    told = []
    for other in others:
        if other.entry.status in WaitlistEntry.LIVE:
            waitlist_taken_text(offer=offer, entry=other.entry)
            told.append(other.pk)
    WaitlistOfferRecipient.objects.filter(pk__in=told).update(told_taken_at=timezone.now())


def waitlist_offer_decline(*, offer_id: int, entry_id: int) -> bool:
    """The person does not want this time; they keep their place and may be offered
    another. False when the offer is not open to them any more."""
    with transaction.atomic():
        declined = WaitlistOfferRecipient.objects.filter(
            offer_id=offer_id,
            entry_id=entry_id,
            declined_at__isnull=True,
            offer__status=WaitlistOffer.Status.OPEN,
        ).update(declined_at=timezone.now())
        if declined:
            WaitlistEntry.objects.filter(pk=entry_id, status=WaitlistEntry.Status.OFFERED).update(
                status=WaitlistEntry.Status.ACTIVE
            )
            offers_without_takers_close()
    return bool(declined)


def waitlist_offer_leave(*, offer_id: int, entry_id: int) -> bool:
    """The person asked, from their offer's link, to leave the waitlist (less contact:
    the link may always do that). False when they were not waiting."""
    if not WaitlistOfferRecipient.objects.filter(offer_id=offer_id, entry_id=entry_id).exists():
        return False
    return waitlist_remove(entry_id=entry_id, removed_by_id=None)
