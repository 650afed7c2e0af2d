"""Moving a consultation to another time, in one conditional write.

The move is one UPDATE of the appointment that is still active: the database's
"no double booking" constraint refuses a time someone else took meanwhile, so two
people racing for a slot cannot both have it. The old time's reminders are
cancelled, the new time gets its own (``appointment_messages.reminder_key``), and the
person is sent the new time with the calendar invitation that replaces the old one
(the same UID, a higher SEQUENCE). The old time is offered to the waitlist."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from clinic.errors import ApplicationError
from notifications import services as notification_services
from notifications.models import Message
from scheduling import selectors as scheduling_selectors
from scheduling.models import Appointment, AppointmentChange, Clinician
from scheduling.selectors.consultations import Slot
from scheduling.services.appointment_changes import appointment_change_record, change_actor
from scheduling.services.appointment_messages import appointment_notify
from scheduling.services.waitlist import waitlist_offers_kick

logger = logging.getLogger(__name__)

# How far ahead the "next open times" offered with a refusal look, and how many.
NEXT_SLOTS_WITHIN = timedelta(days=14)
NEXT_SLOTS_COUNT = 3


class SlotTaken(ApplicationError):
    """The time asked for is not free (taken meanwhile, or never offered): a 409 that
    carries the next open times to choose from instead."""

    def __init__(self, message: str, *, code: str, next_slots: list[Slot]) -> None:
        super().__init__(
            message, code=code, status_code=409, fields={"starts_at": ["Not an open time."]}
        )
        self.next_slots = next_slots


def next_open_slots(*, clinician_id: int | None, after: datetime | None = None) -> list[Slot]:
    """The next few open times (of ``clinician_id``, or anyone's when None)."""
    start = max(after or timezone.now(), timezone.now())
    return scheduling_selectors.slots_available(
        start=start, end=start + NEXT_SLOTS_WITHIN, clinician_id=clinician_id
    )[:NEXT_SLOTS_COUNT]


def open_slot_of(*, clinician_id: int, starts_at: datetime) -> tuple[Clinician, Slot]:
    """The active clinician and their open slot starting at ``starts_at``. Raises
    ``ApplicationError`` (400) for no such clinician and ``SlotTaken`` (409, with the
    next open times) for a time that is not open."""
    clinician = Clinician.objects.filter(pk=clinician_id, is_active=True).first()
    if clinician is None:
        raise ApplicationError("No such clinician.", fields={"clinician_id": ["Unknown."]})
    slot = scheduling_selectors.slot_find(clinician=clinician, starts_at=starts_at)
    if slot is None:
        raise SlotTaken(
            "That time is not available.",
            code="slot_unavailable",
            next_slots=next_open_slots(clinician_id=clinician.pk),
        )
    return clinician, slot


def appointment_move(
    *,
    appointment_id: int,
    starts_at: datetime,
    clinician_id: int | None = None,
    moved_by_id: int | None = None,
    by_person: bool = False,
) -> Appointment:
    """Move an active appointment to ``starts_at`` (with ``clinician_id``, or its own
    clinician). Raises ``ApplicationError``: 404 for no such appointment, 409
    (``not_active``) for one cancelled or over, and ``SlotTaken`` (409, with the next
    open times) for a time that is not free. A move needs the person's agreement
    like a booking does: the coordinator is on the phone with them, or they chose it
    from their own link. An appointment the person asked to reschedule is booked
    again (not confirmed yet). The move is recorded with who made it (``by_person``:
    the person, from their own link; else ``moved_by_id``'s coordinator, or the
    clinic) and the time it left."""
    current = (
        Appointment.objects.filter(pk=appointment_id)
        .only("pk", "clinician_id", "starts_at")
        .first()
    )
    if current is None:
        raise ApplicationError("No such appointment.", code="not_found", status_code=404)
    clinician, slot = open_slot_of(
        clinician_id=clinician_id or current.clinician_id, starts_at=starts_at
    )
    try:
        with transaction.atomic():
            moved = Appointment.objects.filter(
                pk=appointment_id, status__in=Appointment.ACTIVE
            ).update(
                clinician=clinician,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                status=Appointment.Status.BOOKED,
                confirmed_at=None,
                moved_at=timezone.now(),
                ics_sequence=F("ics_sequence") + 1,
            )
            if not moved:
                raise ApplicationError(
                    "Only a booked appointment can be moved.", code="not_active", status_code=409
                )
            notification_services.messages_cancel(
                dedupe_key_prefix=f"appointment-reminder:{appointment_id}:"
            )
            appointment = Appointment.objects.select_related("lead").get(pk=appointment_id)
            appointment_change_record(
                appointment=appointment,
                kind=AppointmentChange.Kind.MOVED,
                actor=change_actor(user_id=moved_by_id, by_person=by_person),
                user_id=moved_by_id,
                previous_starts_at=current.starts_at,
            )
            appointment_notify(
                appointment,
                template="appointment_moved",
                purpose=Message.Purpose.CONFIRMATION,
                key=f"appointment-moved:{appointment.pk}:{appointment.ics_sequence}",
            )
            # The old time is free now: the waitlist may have it.
            waitlist_offers_kick()
    except IntegrityError:
        raise SlotTaken(
            "Someone else just booked that time.",
            code="slot_taken",
            next_slots=next_open_slots(clinician_id=clinician.pk),
        ) from None
    logger.info(
        "appointment.moved",
        extra={"appointment_id": appointment_id, "moved_by_id": moved_by_id},
    )
    return appointment
