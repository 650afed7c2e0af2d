"""The person books, moves and cancels their own consultation from a link.

A coordinator texts a booking link (``booking_link_send``) only to a number the person
proved is theirs (they answered a call to it, texted from it, or confirmed it to a
coordinator: ``intake.selectors.lead_verification``), through the same path as every
other text to a lead (consent, opt-outs, refusals, quiet hours, discretion). The link
names the lead and a nonce of its own; a booking made with it records that nonce
under a unique constraint, so one link books once. Each booking or move is one
conditional write (``appointment_book``, ``appointment_move``): under a race for one
time exactly one person gets it and the other is offered the next open times.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications.models import Message
from scheduling import links
from scheduling import selectors as scheduling_selectors
from scheduling.links import BookingLink
from scheduling.models import Appointment, BookingLinkUse, Callback, Clinician
from scheduling.selectors.self_booking import SELF_BOOKING_WINDOW, texted_link_may_act
from scheduling.services.appointment_moves import SlotTaken, appointment_move, next_open_slots
from scheduling.services.consultations import appointment_book
from scheduling.services.outreach import lead_message
from scheduling.services.texts import SMS_NOT_ALLOWED

BOOKING_LINK_UNVERIFIED = (
    "This number is not verified: a booking link goes only to a number the person "
    "proved is theirs. Call them on it (or have them confirm it to you) first."
)
BOOKING_LINK_NO_PHONE = "There is no phone number to text the link to."
BOOKING_LINK_UNREACHABLE = "This number cannot take texts."
BOOKING_LINK_USED = "This link was used to book already."


def booking_link_send(*, callback_id: int, user_id: int) -> Message:
    """Text the callback's lead a link to choose their own consultation time. Only to
    the lead's number, only once it is proven theirs, and only where a text may go
    now (``intake.selectors.sms_permission``): each refusal is an ``ApplicationError``
    saying why, and nothing is recorded. Discreet wording when they asked that we not
    name the clinic; a person who made a crisis request gets the crisis wording;
    quiet hours hold the text as for any other. Returns the message."""
    callback = Callback.objects.select_related("lead").filter(pk=callback_id).first()
    if callback is None:
        raise ApplicationError("No such callback.", code="not_found", status_code=404)
    lead = callback.lead
    refusal = _booking_link_refusal(lead)
    if refusal:
        code, text = refusal
        raise ApplicationError(text, code=code, fields={"booking_link": [text]})
    sent = lead_message(
        lead=lead,
        purpose=Message.Purpose.REPLY,
        template="booking_link",
        context={"manage_url": links.booking_url(lead_id=lead.pk, phone_hash=lead.phone_hash)},
        # A double click within the minute sends one text.
        key=f"booking-link:{lead.pk}:{int(time.time() // 60)}",
        email=False,
        verified_only=True,
    )
    if not sent:  # the checks above are the ones lead_message makes: a change meanwhile
        raise ApplicationError(BOOKING_LINK_UNREACHABLE, code="sms_unreachable")
    return sent[0]


def _booking_link_refusal(lead: Lead) -> tuple[str, str] | None:
    if not lead.phone:
        return "no_phone", BOOKING_LINK_NO_PHONE
    if not intake_selectors.lead_verification(lead_id=lead.pk).phone:
        return "phone_unverified", BOOKING_LINK_UNVERIFIED
    permission = intake_selectors.sms_permission(phone=lead.phone, lead_id=lead.pk)
    if not permission.allowed:
        return "no_sms_consent", SMS_NOT_ALLOWED.get(
            permission.reason, "This person has not agreed to texts."
        )
    if not intake_selectors.lead_sms_reachable(lead_id=lead.pk):
        return "sms_unreachable", BOOKING_LINK_UNREACHABLE
    return None


def booking_link_lead(*, link: BookingLink) -> Lead | None:
    """The lead a booking link opens for: it exists, is not closed, nobody asked that
    the person not be contacted (a refusal: a booking would bring a consultation call
    and its messages, whoever holds the text), and it still has the number the link
    was texted to, verified."""
    lead = intake_selectors.lead_get(lead_id=link.lead_id)
    if lead is None or not link.opens_for(phone_hash=lead.phone_hash):
        return None
    return lead if texted_link_may_act(lead=lead) else None


def slot_check(*, clinician_id: int, starts_at: datetime) -> None:
    """A time the person may choose: one the page offers (an open slot of an active
    clinician, in the clinic's hours, not past, within ``SELF_BOOKING_WINDOW``).
    Raises ``ApplicationError`` (400, on the field ``slot``) for a time never offered
    and ``SlotTaken`` (409, with the next open times) for one taken meanwhile."""
    now = timezone.now()
    if starts_at <= now:
        raise ApplicationError(
            "That time has passed. Choose another.",
            code="slot_past",
            fields={"slot": ["That time has passed."]},
        )
    clinician = Clinician.objects.filter(pk=clinician_id, is_active=True).first()
    if clinician is not None and starts_at <= now + SELF_BOOKING_WINDOW:
        if scheduling_selectors.slot_find(clinician=clinician, starts_at=starts_at):
            return
        taken = Appointment.objects.filter(
            clinician=clinician, starts_at=starts_at, status__in=Appointment.ACTIVE
        ).exists()
        if taken:
            raise _taken_with_anyones_next()
    raise ApplicationError(
        "That is not one of the times offered. Choose one from the list.",
        code="slot_not_offered",
        fields={"slot": ["Not an offered time."]},
    )


def _taken_with_anyones_next() -> SlotTaken:
    """The person does not choose a clinician: offer anyone's next open times."""
    return SlotTaken(
        "Someone else just took that time. Here are the next open times.",
        code="slot_taken",
        next_slots=next_open_slots(clinician_id=None),
    )


def booking_link_book(
    *, link: BookingLink, clinician_id: int, starts_at: datetime, modality: str | None
) -> Appointment:
    """Book the time the holder of a booking link chose, for the link's lead, as the
    person (``appointment_book``: one conditional write; the person gets the
    confirmation with the calendar invitation). The link books once: its nonce is
    stored with the booking in the same transaction, and a second booking with it
    rolls back whole. Raises ``ApplicationError``: 400 for a link used already or a
    time not offered, 409 for a lead with a consultation already (``already_booked``:
    move or cancel it instead) and ``SlotTaken`` (409) for a time taken meanwhile."""
    if BookingLinkUse.objects.filter(nonce=link.nonce).exists():
        raise ApplicationError(BOOKING_LINK_USED, code="link_used")
    if Appointment.objects.filter(lead_id=link.lead_id, status__in=Appointment.ACTIVE).exists():
        raise ApplicationError(
            "You have a consultation booked already: move or cancel it instead.",
            code="already_booked",
            status_code=409,
        )
    slot_check(clinician_id=clinician_id, starts_at=starts_at)
    try:
        with transaction.atomic():
            appointment = appointment_book(
                lead_id=link.lead_id,
                clinician_id=clinician_id,
                starts_at=starts_at,
                booked_by_id=None,
                modality=modality,
                by_person=True,
            )
            try:
                with transaction.atomic():
                    BookingLinkUse.objects.create(nonce=link.nonce, appointment=appointment)
            except IntegrityError:
                raise ApplicationError(BOOKING_LINK_USED, code="link_used") from None
    except SlotTaken:
        raise _taken_with_anyones_next() from None
    return appointment


def appointment_self_move(
    *, appointment_id: int, clinician_id: int, starts_at: datetime
) -> Appointment:
    """The person moves their consultation to a time they chose from their link
    (``appointment_move``: one conditional write; the old time's reminders are
    cancelled, the new time gets its own, and the calendar invitation is replaced).
    Raises as ``slot_check`` does, and 409 ``not_active`` for a consultation cancelled
    or over."""
    slot_check(clinician_id=clinician_id, starts_at=starts_at)
    try:
        return appointment_move(
            appointment_id=appointment_id,
            starts_at=starts_at,
            clinician_id=clinician_id,
            by_person=True,
        )
    except SlotTaken:
        raise _taken_with_anyones_next() from None
