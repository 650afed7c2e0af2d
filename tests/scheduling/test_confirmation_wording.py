"""Confirmations follow the person's choice of channel and say when a closed clinic
opens."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from clinic import business_time
from notifications.wording import sms_segments, wording_problems
from tests.factories import submit_lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic_in_new_york")]

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("channel", "promise"),
    [("sms", "will text you"), ("email", "will email you"), ("call", "will call you")],
)
def test_the_text_says_how_we_will_get_back_as_the_person_chose(
    sms_outbox, route, channel, promise
):
    route(submit_lead(preferred_channel=channel))

    (sms,) = sms_outbox
    assert promise in sms.body
    assert sms_segments(sms.body)[1] <= 2
    assert wording_problems(sms.body) == []


@pytest.mark.parametrize(
    ("channel", "promise"), [("sms", "will text you"), ("email", "will email you")]
)
def test_the_email_says_how_we_will_get_back_as_the_person_chose(route, channel, promise):
    route(submit_lead(preferred_channel=channel))

    (email,) = mail.outbox
    assert promise in email.body
    assert promise in email.alternatives[0][0]


def test_a_person_who_left_only_an_email_is_told_we_will_email_not_call(route, sms_outbox):
    route(submit_lead(phone=None, email="dana@example.org", preferred_channel="call"))

    (email,) = mail.outbox
    assert "will email you" in email.body
    assert "will email you" in email.alternatives[0][0]
    assert "call you" not in email.body and "call you" not in email.alternatives[0][0]
    assert sms_outbox == []


def test_a_person_who_chose_text_but_gave_no_consent_to_texts_hears_of_a_call(route):
    route(submit_lead(preferred_channel="sms", sms_consent=False))

    (email,) = mail.outbox
    assert "will text you" not in email.body


def test_when_the_clinic_is_closed_the_confirmation_says_when_it_opens(
    weekday_hours, sms_outbox, route
):
    friday_night = datetime(2026, 12, 4, 22, 0, tzinfo=NY)
    with time_machine.travel(friday_night, tick=False):
        route(submit_lead(tz_name="America/New_York"))

    assert "on Monday after we open at 8:00 AM EST" in sms_outbox[0].body
    assert "on Monday after we open at 8:00 AM EST" in mail.outbox[0].body


class TestCallbackWindowPhrase:
    def test_while_open_it_gives_the_due_time(self, weekday_hours):
        now = datetime(2026, 12, 3, 10, 0, tzinfo=NY)
        phrase = business_time.callback_window_phrase(
            due_at=datetime(2026, 12, 3, 11, 0, tzinfo=NY), now=now
        )
        assert phrase == "today by 11:00 AM EST"

    def test_before_opening_it_says_today_after_we_open(self, weekday_hours):
        now = datetime(2026, 12, 3, 6, 0, tzinfo=NY)
        phrase = business_time.callback_window_phrase(
            due_at=datetime(2026, 12, 3, 8, 5, tzinfo=NY), now=now
        )
        assert phrase == "today after we open at 8:00 AM EST"

    def test_at_night_it_says_tomorrow_in_the_persons_zone(self, weekday_hours):
        now = datetime(2026, 12, 3, 21, 0, tzinfo=NY)
        phrase = business_time.callback_window_phrase(
            due_at=datetime(2026, 12, 4, 8, 5, tzinfo=NY), now=now, tz_name="America/Chicago"
        )
        assert phrase == "tomorrow after we open at 7:00 AM CST"

    def test_a_call_later_that_day_gives_its_time_and_the_opening(self, weekday_hours):
        now = datetime(2026, 12, 3, 6, 0, tzinfo=NY)
        phrase = business_time.callback_window_phrase(
            due_at=datetime(2026, 12, 3, 17, 5, tzinfo=NY), now=now
        )
        assert phrase == "today by 5:05 PM EST; we open today at 8:00 AM EST"

    def test_later_in_the_week_it_names_the_day(self, weekday_hours):
        now = datetime(2026, 12, 3, 10, 0, tzinfo=NY)  # Thursday, open
        phrase = business_time.callback_window_phrase(
            due_at=datetime(2026, 12, 7, 9, 0, tzinfo=NY), now=now
        )
        assert phrase == "on Monday by 9:00 AM EST"

    def test_without_opening_hours_the_clinic_is_never_closed(self):
        now = datetime(2026, 12, 3, 3, 0, tzinfo=NY)
        phrase = business_time.callback_window_phrase(
            due_at=datetime(2026, 12, 3, 3, 5, tzinfo=NY), now=now
        )
        assert phrase == "in the next few minutes"
