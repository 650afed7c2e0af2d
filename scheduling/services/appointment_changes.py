"""Who changed a consultation: each booking, move and cancellation is recorded with its
actor (a coordinator, the person from their own link, or the clinic) in the same
transaction as the change, for the coordinators' history on the callback and
appointments pages."""

from __future__ import annotations

from datetime import datetime

from scheduling.models import Appointment, AppointmentChange


def change_actor(*, user_id: int | None, by_person: bool = False) -> str:
    """The actor of a change: the person (their link), else the coordinator who made
    it, else the clinic (no one at a desk)."""
    if by_person:
        return AppointmentChange.Actor.PERSON_LINK
    if user_id is not None:
        return AppointmentChange.Actor.COORDINATOR
    return AppointmentChange.Actor.CLINIC


def appointment_change_record(
    *,
    appointment: Appointment,
    kind: str,
    actor: str,
    user_id: int | None,
    previous_starts_at: datetime | None = None,
) -> AppointmentChange:
    """Record one change of ``appointment`` (as it is after the change). Call inside the
    change's own transaction: a change rolled back leaves no history behind."""
    return AppointmentChange.objects.create(
        appointment=appointment,
        kind=AppointmentChange.Kind(kind),
        actor=AppointmentChange.Actor(actor),
        # Only a coordinator's change names a user: the person has no account.
        user_id=user_id if actor == AppointmentChange.Actor.COORDINATOR else None,
        starts_at=appointment.starts_at,
        previous_starts_at=previous_starts_at,
    )
