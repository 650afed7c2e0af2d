from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from notifications import services
from notifications.models import Message
from notifications.quiet_hours import quiet_hours_release, recipient_time_zones

ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
]
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


def allowed(moment: datetime, zone: ZoneInfo) -> bool:
    return time(8) <= moment.astimezone(zone).time() < time(21)


@hypothesis_settings(max_examples=300, deadline=None)
@given(now=moments, zone_name=st.sampled_from(ZONES))
def test_a_text_goes_only_in_the_persons_daytime_and_as_soon_as_allowed(now, zone_name):
    zone = ZoneInfo(zone_name)
    release = quiet_hours_release(now=now, zones=[zone])

    if allowed(now, zone):
        assert release is None
    else:
        assert release > now
        assert allowed(release, zone)
        assert release.astimezone(zone).time() == time(8)
        # Nothing earlier would do: a minute before the release is still quiet.
        assert not allowed(release - timedelta(minutes=1), zone)
        assert release - now <= timedelta(hours=11, minutes=1)


@hypothesis_settings(max_examples=200, deadline=None)
@given(now=moments, zone_names=st.lists(st.sampled_from(ZONES[:7]), min_size=2, max_size=4))
def test_several_candidate_zones_wait_for_daytime_in_all_of_them(now, zone_names):
    zones = [ZoneInfo(name) for name in zone_names]
    release = quiet_hours_release(now=now, zones=zones)
    moment = release or now
    assert all(allowed(moment, zone) for zone in zones)


def test_dst_spring_forward_morning_is_still_eight_local():
    new_york = ZoneInfo("America/New_York")
    now = datetime(2027, 3, 14, 5, 0, tzinfo=UTC)  # 00:00 EST, clocks jump at 02:00
    release = quiet_hours_release(now=now, zones=[new_york])
    assert release.astimezone(new_york).hour == 8
    assert release.astimezone(UTC).hour == 12  # EDT


def test_the_declared_zone_wins_over_the_numbers():
    assert recipient_time_zones(phone="+12025550143", declared="America/Los_Angeles") == [
        ZoneInfo("America/Los_Angeles")
    ]


def test_the_numbers_zone_is_used_without_a_declared_one():
    assert recipient_time_zones(phone="+12025550143") == [ZoneInfo("America/New_York")]


def test_a_toll_free_number_is_held_for_every_zone_it_may_be_in():
    zones = recipient_time_zones(phone="+18005550100")
    assert len(zones) > 5


@pytest.mark.django_db
def test_a_follow_up_at_night_is_scheduled_for_the_morning_but_a_confirmation_goes_now(
    sms_outbox, django_capture_on_commit_callbacks
):
    night = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)  # 22:30 in New York
    context = {"first_name": "Maria", "callback_window": "soon"}
    with time_machine.travel(night, tick=False), django_capture_on_commit_callbacks(execute=True):
        follow_up = services.message_send(
            channel="sms",
            purpose="follow_up",
            recipient="+12025550143",
            template="confirmation",
            context=context,
            recipient_time_zone="America/New_York",
        )
        confirmation = services.message_send(
            channel="sms",
            purpose="confirmation",
            recipient="+12025550143",
            template="confirmation",
            context=context,
            recipient_time_zone="America/New_York",
        )

    follow_up.refresh_from_db()
    confirmation.refresh_from_db()
    assert follow_up.status == Message.Status.SCHEDULED
    assert follow_up.send_after == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert confirmation.status == Message.Status.SENT
    assert len(sms_outbox) == 1
