"""What the waitlist tests share: a clinician with two times on Mondays (11:00 and
12:00, New York), both booked, so nothing is open in a three-day window from Monday
30 November 2026 at 8:00; and people put on the waitlist through the real services."""

from __future__ import annotations

from datetime import date, time, timedelta

from intake.models import Lead
from intake.services import lead_details_verify
from scheduling import services
from scheduling.models import Appointment, Availability, Clinician, WaitlistEntry
from scheduling.services import waitlist
from tests.factories import submit_lead
from tests.scheduling.conftest import ny

MONDAY = date(2026, 11, 30)


def waitlist_configure(settings) -> None:
    """Three days' window, offers to two people at a time for a day, no booking notice
    (run under ``monday_morning_in_new_york``)."""
    settings.WAITLIST_AFTER_DAYS = 3
    settings.WAITLIST_OFFER_BATCH = 2
    settings.WAITLIST_OFFER_HOURS = 24
    settings.BOOKING_MIN_NOTICE = timedelta(0)
    settings.CLINIC_ADDRESS = "12 Elm Street, New Haven"
    settings.STAFF_ALERT_EMAILS = []


def monday_clinician() -> Clinician:
    """Dr. Rivera: hour-long times on Mondays, 11:00 and 12:00."""
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=60)
    Availability.objects.create(
        clinician=clinician, weekday=0, starts_at=time(11), ends_at=time(13)
    )
    return clinician


def lead(route, *, verified: bool = True, **fields) -> int:
    submission = submit_lead(**fields)
    route(submission)
    if verified:
        lead_details_verify(
            lead_id=submission.lead_id, phone=True, email=True, by=Lead.Verification.COORDINATOR
        )
    return submission.lead_id


def book(lead_id: int, clinician: Clinician, hour: int) -> Appointment:
    return services.appointment_book(
        lead_id=lead_id, clinician_id=clinician.pk, starts_at=ny(30, hour), booked_by_id=None
    )


def book_up(clinician: Clinician, route) -> dict[int, Appointment]:
    """Both Monday times booked: {hour: appointment}."""
    return {hour: book(lead(route), clinician, hour) for hour in (11, 12)}


def wait(lead_id: int, user, *, earliest: date | None = None, **fields) -> WaitlistEntry:
    checked = waitlist.waitlist_check(
        reason=fields.pop("reason", "no-times-soon"), earliest_date=earliest, **fields
    )
    return waitlist.waitlist_add(lead_id=lead_id, request=checked, added_by_id=user.pk)
