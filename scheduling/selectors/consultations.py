"""Consultations: free slots, upcoming appointments, and where a booking was (or was not)
sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from clinic import business_time
from intake import selectors as intake_selectors
from notifications import selectors as notification_selectors
from scheduling.models import (
    Appointment,
    Availability,
    AvailabilityException,
    Clinician,
)


@dataclass(frozen=True)
class Slot:
    clinician_id: int
    clinician_name: str
    starts_at: datetime
    ends_at: datetime


def _day_intervals(
    day: date, weekly: list[Availability], exceptions: list[AvailabilityException]
) -> list[tuple[time, time]]:
    """The clinician's hours on ``day``: their week, plus extra hours, minus time off."""
    if any(e.kind == AvailabilityException.Kind.OFF and e.starts_at is None for e in exceptions):
        return []
    hours = [(a.starts_at, a.ends_at) for a in weekly if a.weekday == day.weekday()]
    hours += [
        (e.starts_at, e.ends_at) for e in exceptions if e.kind == AvailabilityException.Kind.EXTRA
    ]
    return sorted(hours)


def slots_available(
    *, start: datetime, end: datetime, clinician_id: int | None = None, limit: int = 500
) -> list[Slot]:
    """Free consultation slots between ``start`` and ``end``: each clinician's usual
    week and exceptions, cut into their slot length, without clinic closures, time
    already booked, or anything sooner than ``BOOKING_MIN_NOTICE`` from now."""
    zone = business_time.clinic_zone()
    earliest = max(start, timezone.now() + settings.BOOKING_MIN_NOTICE)
    if end <= earliest:
        return []
    clinicians = Clinician.objects.filter(is_active=True).prefetch_related("availability")
    if clinician_id is not None:
        clinicians = clinicians.filter(pk=clinician_id)
    first_day, last_day = earliest.astimezone(zone).date(), end.astimezone(zone).date()
    closed = business_time.closed_days(first_day, last_day)
    exceptions: dict[tuple[int, date], list[AvailabilityException]] = {}
    for exception in AvailabilityException.objects.filter(day__gte=first_day, day__lte=last_day):
        exceptions.setdefault((exception.clinician_id, exception.day), []).append(exception)
    taken = set(
        Appointment.objects.filter(
            status__in=Appointment.ACTIVE, starts_at__gte=earliest, starts_at__lt=end
        ).values_list("clinician_id", "starts_at")
    )
    slots: list[Slot] = []
    for clinician in clinicians:
        weekly = list(clinician.availability.all())
        length = timedelta(minutes=clinician.slot_minutes)
        day = first_day
        while day <= last_day:
            day_exceptions = exceptions.get((clinician.pk, day), [])
            off = [
                (
                    datetime.combine(day, e.starts_at, tzinfo=zone),
                    datetime.combine(day, e.ends_at, tzinfo=zone),
                )
                for e in day_exceptions
                if e.kind == AvailabilityException.Kind.OFF and e.starts_at is not None
            ]
            if day not in closed:
                for opens, closes in _day_intervals(day, weekly, day_exceptions):
                    moment = datetime.combine(day, opens, tzinfo=zone)
                    until = datetime.combine(day, closes, tzinfo=zone)
                    while moment + length <= until:
                        finish = moment + length
                        if (
                            moment >= earliest
                            and finish <= end
                            and (clinician.pk, moment) not in taken
                            and not any(moment < b and finish > a for a, b in off)
                        ):
                            slots.append(Slot(clinician.pk, clinician.name, moment, finish))
                        moment = finish
            day += timedelta(days=1)
    slots.sort(key=lambda slot: (slot.starts_at, slot.clinician_name))
    return slots[:limit]


def slot_find(*, clinician: Clinician, starts_at: datetime) -> Slot | None:
    """The free slot of ``clinician`` starting exactly at ``starts_at``, if any."""
    for slot in slots_available(
        start=starts_at,
        end=starts_at + timedelta(minutes=clinician.slot_minutes),
        clinician_id=clinician.pk,
    ):
        if slot.starts_at == starts_at:
            return slot
    return None


def appointments_upcoming(*, since: datetime | None = None) -> QuerySet[Appointment]:
    since = since or timezone.now() - timedelta(hours=12)
    return (
        Appointment.objects.filter(starts_at__gte=since)
        .select_related("lead", "clinician")
        .order_by("starts_at")
    )


def appointment_get(*, appointment_id: int) -> Appointment | None:
    return Appointment.objects.select_related("lead", "clinician").filter(pk=appointment_id).first()


# What the coordinator is told when a booking confirmation went nowhere (it goes only
# to details the person proved: scheduling.services.consultations).
BOOKING_UNSENT_UNVERIFIED = (
    "No verified detail to send the confirmation to: confirm the phone or email with "
    "the person first, and tell them the time yourself."
)


BOOKING_UNSENT_VERIFIED = (
    "The confirmation could not go to any verified detail (no consent to texts, or the "
    "number takes none): tell the person the time yourself, or confirm their email "
    "with them."
)


def appointment_booking_sent_to(*, appointment_id: int) -> list[str]:
    """The channels ("sms", "email") the booking confirmation went or is going by."""
    return [
        channel
        for channel in ("sms", "email")
        if notification_selectors.message_going(
            dedupe_key=f"appointment-booked:{appointment_id}:{channel}"
        )
    ]


def appointment_booking_notice(*, appointment_id: int) -> str:
    """What the coordinator must know about a booking's confirmation: "" when it went
    to at least one verified detail, else why not and what to do."""
    if appointment_booking_sent_to(appointment_id=appointment_id):
        return ""
    lead_id = Appointment.objects.filter(pk=appointment_id).values_list("lead_id", flat=True)
    verified = intake_selectors.lead_verification(lead_id=lead_id.first() or 0)
    if verified.phone or verified.email:
        return BOOKING_UNSENT_VERIFIED
    return BOOKING_UNSENT_UNVERIFIED
