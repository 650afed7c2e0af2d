from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from clinic import business_time
from clinic.models import ClinicClosure, OpeningHours

NY = ZoneInfo("America/New_York")


def _hours():
    for day in range(5):
        OpeningHours.objects.create(weekday=day, opens_at=time(8), closes_at=time(12, 30))
        OpeningHours.objects.create(weekday=day, opens_at=time(13, 30), closes_at=time(20))


@pytest.fixture
def weekday_hours(db):
    _hours()


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


class TestCallbackDueAt:
    @pytest.fixture(autouse=True)
    def _clinic(self, settings):
        settings.CLINIC_TIME_ZONE = "America/New_York"
        settings.SPEED_TO_LEAD_MINUTES = 5
        settings.CLINIC_HOLIDAYS_COUNTRY = ""

    def test_during_opening_hours_it_is_due_in_five_minutes(self, weekday_hours):
        assert business_time.callback_due_at(submitted_at=ny(2026, 11, 25, 10, 0)) == ny(
            2026, 11, 25, 10, 5
        )

    def test_at_night_it_is_due_shortly_after_the_next_opening(self, weekday_hours):
        assert business_time.callback_due_at(submitted_at=ny(2026, 11, 25, 22, 0)) == ny(
            2026, 11, 26, 8, 5
        )

    def test_on_friday_night_it_waits_for_monday(self, weekday_hours):
        assert business_time.callback_due_at(submitted_at=ny(2026, 11, 27, 21, 0)) == ny(
            2026, 11, 30, 8, 5
        )

    def test_the_clock_stops_over_lunch(self, weekday_hours):
        assert business_time.callback_due_at(submitted_at=ny(2026, 11, 25, 12, 28)) == ny(
            2026, 11, 25, 13, 33
        )

    def test_a_closure_day_is_skipped(self, weekday_hours):
        ClinicClosure.objects.create(day=date(2026, 11, 26), reason="Thanksgiving")
        assert business_time.callback_due_at(submitted_at=ny(2026, 11, 25, 21, 0)) == ny(
            2026, 11, 27, 8, 5
        )

    def test_a_public_holiday_is_skipped(self, weekday_hours, settings):
        settings.CLINIC_HOLIDAYS_COUNTRY = "US"
        settings.CLINIC_HOLIDAYS_SUBDIVISION = "CT"
        # Thanksgiving 2026 is Thursday November 26.
        assert business_time.callback_due_at(submitted_at=ny(2026, 11, 25, 22, 0)) == ny(
            2026, 11, 27, 8, 5
        )

    def test_a_morning_person_is_called_in_their_morning(self, weekday_hours):
        # 15:00 in New York is 12:00 in Los Angeles: the morning there is over.
        due = business_time.callback_due_at(
            submitted_at=ny(2026, 11, 24, 15, 0),
            best_time="morning",
            tz_name="America/Los_Angeles",
        )
        assert due == ny(2026, 11, 25, 11, 0)  # 08:00 in Los Angeles

    def test_an_evening_person_is_called_after_five_their_time(self, weekday_hours):
        due = business_time.callback_due_at(
            submitted_at=ny(2026, 11, 24, 10, 0), best_time="evening", tz_name="America/New_York"
        )
        assert due == ny(2026, 11, 24, 17, 0)

    def test_a_window_the_clinic_is_never_open_in_falls_back_to_the_clock(self, weekday_hours):
        # 17:00-21:00 in Tokyo is 03:00-07:00 in New York: the clinic is closed then.
        due = business_time.callback_due_at(
            submitted_at=ny(2026, 11, 24, 10, 0), best_time="evening", tz_name="Asia/Tokyo"
        )
        assert due == ny(2026, 11, 24, 10, 5)

    def test_without_opening_hours_the_clinic_is_always_open(self, db):
        start = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
        assert business_time.callback_due_at(submitted_at=start) == start + timedelta(minutes=5)

    def test_opening_hours_keep_their_wall_time_across_dst(self, weekday_hours):
        # Friday 2026-10-30 night; DST ends Sunday 2026-11-01; Monday opens 08:00 EST.
        due = business_time.callback_due_at(submitted_at=ny(2026, 10, 30, 21, 0))
        assert due == ny(2026, 11, 2, 8, 5)
        assert due.astimezone(UTC).hour == 13  # EST is UTC-5


@override_settings(CLINIC_TIME_ZONE="America/New_York")
@override_settings(CLINIC_HOLIDAYS_COUNTRY="")
class TestBusinessAddProperties(TestCase):
    @classmethod
    def setUpTestData(cls):
        _hours()

    @hypothesis_settings(max_examples=150, deadline=None)
    @given(
        start=st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
        ),
        minutes=st.integers(min_value=0, max_value=24 * 60),
    )
    def test_the_result_is_open_time_after_the_start(self, start, minutes):
        due = business_time.business_add(start, timedelta(minutes=minutes))

        assert due >= start
        local = due.astimezone(NY)
        assert local.weekday() < 5
        assert time(8) <= local.time() <= time(20)
        assert not (time(12, 30) < local.time() < time(13, 30))

    @hypothesis_settings(max_examples=100, deadline=None)
    @given(
        start=st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
        ),
        first=st.integers(min_value=0, max_value=600),
        second=st.integers(min_value=0, max_value=600),
    )
    def test_adding_in_two_steps_equals_adding_once(self, start, first, second):
        one_step = business_time.business_add(start, timedelta(minutes=first + second))
        middle = business_time.business_add(start, timedelta(minutes=first))
        two_steps = business_time.business_add(middle, timedelta(minutes=second))
        assert one_step == two_steps
