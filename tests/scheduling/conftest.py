"""Clinic time for the scheduling tests that ask for it."""

from __future__ import annotations

from datetime import time

import pytest

from clinic import business_time
from clinic.models import OpeningHours


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
