"""Clinic time, and a clinician's week, for the scheduling tests that ask for them."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from clinic import business_time
from clinic.models import OpeningHours
from scheduling.models import Availability, Clinician

# Monday 2026-11-30 08:00 in New York.
MONDAY_MORNING = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


@pytest.fixture
def clinic_in_new_york(settings):
    """The clinic in New York, no holidays, a 5-minute speed-to-lead clock."""
    settings.CLINIC_TIME_ZONE = "America/New_York"
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.SPEED_TO_LEAD_MINUTES = 5
    business_time.forget()
    yield
    business_time.forget()


@pytest.fixture
def weekday_hours():
    """Open 8:00 to 20:00, Monday to Friday."""
    for day in range(5):
        OpeningHours.objects.create(weekday=day, opens_at=time(8), closes_at=time(20))
    business_time.forget()


@pytest.fixture
def monday_morning_in_new_york(settings):
    """The clinic in New York on Monday 30 November 2026 at 8:00, time stopped, with no
    holidays and no quiet hours to wait for."""
    settings.CLINIC_TIME_ZONE = "America/New_York"
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.QUIET_HOURS_START = "23:59"
    settings.QUIET_HOURS_END = "00:00"
    with time_machine.travel(MONDAY_MORNING, tick=False):
        yield


@pytest.fixture
def clinician():
    """Dr. Rivera: hour-long slots, 9:00 to 12:00, Monday to Friday."""
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=60)
    for day in range(5):
        Availability.objects.create(
            clinician=clinician, weekday=day, starts_at=time(9), ends_at=time(12)
        )
    return clinician


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A November 2026 wall time in New York, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo("America/New_York")).astimezone(
        UTC
    )
