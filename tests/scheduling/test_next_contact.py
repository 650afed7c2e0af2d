"""The CTA's answer says when and how we will actually be in touch: from the callback
window, in the person's zone (or the clinic's, saying so), in the channel they chose
as far as the details they gave allow, and the confirmations agree with it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from intake import next_contact
from tests.factories import ArticleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic_in_new_york")]

NY = ZoneInfo("America/New_York")
URL = "/api/v1/leads/"
SUNDAY_AFTERNOON = datetime(2026, 12, 6, 14, 0, tzinfo=NY)
THURSDAY_MORNING = datetime(2026, 12, 3, 10, 0, tzinfo=NY)


@pytest.fixture(autouse=True)
def _article(db):
    ArticleFactory(slug="science-behind-antidepressants")


def post(client, at: datetime, **fields):
    body = {
        "first_name": "Maria",
        "phone": "(202) 555-0143",
        "article": "science-behind-antidepressants",
        "timezone": "America/Chicago",
        **fields,
    }
    with time_machine.travel(at, tick=False):
        response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_on_a_closed_sunday_the_answer_says_we_are_closed_and_when_we_will_call(
    routed_api_client, weekday_hours
):
    answer = post(routed_api_client, SUNDAY_AFTERNOON)

    assert answer["next_contact"] == {
        "channel": "call",
        "text": "We're closed now. A care coordinator will call you tomorrow after we open "
        "at 7:00 AM CST.",
        "time_zone": "America/Chicago",
    }
    assert "soon" not in answer["next_contact"]["text"]
    assert answer["callback_window"]["ends_at"] == "2026-12-07T08:05:00-05:00"


def test_while_open_the_answer_promises_the_call_in_the_next_few_minutes(
    routed_api_client, weekday_hours
):
    answer = post(routed_api_client, THURSDAY_MORNING)

    assert answer["next_contact"]["text"] == (
        "A care coordinator will call you in the next few minutes."
    )


def test_a_person_who_left_only_an_email_is_told_we_will_email_never_call(
    routed_api_client, weekday_hours, sms_outbox
):
    answer = post(routed_api_client, SUNDAY_AFTERNOON, phone="", email="maria@example.org")

    assert answer["next_contact"]["channel"] == "email"
    text = answer["next_contact"]["text"]
    assert "will email you tomorrow after we open at 7:00 AM CST" in text
    assert "call you" not in text
    # And the confirmation email says the same, in the same words.
    (email,) = mail.outbox
    assert "will email you tomorrow after we open at 7:00 AM CST" in email.body
    assert "call you" not in email.body
    assert "call you" not in email.alternatives[0][0]
    assert sms_outbox == []


@pytest.mark.parametrize(
    ("fields", "channel", "promise"),
    [
        ({"preferred_channel": "sms", "sms_consent": True}, "text", "will text you"),
        ({"preferred_channel": "sms", "sms_consent": False}, "call", "will call you"),
        ({"preferred_channel": "email", "email": "maria@example.org"}, "email", "will email you"),
        ({"preferred_channel": "call", "email": "maria@example.org"}, "call", "will call you"),
    ],
)
def test_the_answer_follows_the_channel_chosen_and_the_details_given(
    routed_api_client, weekday_hours, fields, channel, promise
):
    answer = post(routed_api_client, THURSDAY_MORNING, **fields)

    assert answer["next_contact"]["channel"] == channel
    assert promise in answer["next_contact"]["text"]


def test_without_a_time_zone_the_times_are_the_clinics_and_the_answer_says_so(
    routed_api_client, weekday_hours
):
    answer = post(routed_api_client, SUNDAY_AFTERNOON, timezone="")

    assert answer["next_contact"]["time_zone"] == "America/New_York"
    assert answer["next_contact"]["text"] == (
        "We're closed now. A care coordinator will call you tomorrow after we open at "
        "8:00 AM EST. Times are in the clinic's time zone (America/New York)."
    )


def test_a_crisis_while_closed_is_promised_first_in_the_queue_with_the_opening_at_the_latest(
    routed_api_client, weekday_hours
):
    answer = post(routed_api_client, SUNDAY_AFTERNOON, in_crisis=True)

    text = answer["next_contact"]["text"]
    assert text == (
        "We're closed now, but your request is first in our queue: a care coordinator will "
        "call you as early as they can, at the latest tomorrow after we open at 7:00 AM CST."
    )
    assert "soon" not in text
    assert {r["phone"] for r in answer["crisis_resources"]} >= {"988", "911"}


def test_a_crisis_while_open_is_promised_in_the_next_few_minutes(routed_api_client, weekday_hours):
    answer = post(routed_api_client, THURSDAY_MORNING, message="I don't want to be alive anymore")

    assert answer["next_contact"]["text"] == (
        "Your request is first in our queue: a care coordinator will call you in the next "
        "few minutes."
    )
    assert answer["crisis_resources"]


def test_the_answer_says_the_same_whether_or_not_the_person_was_known(
    routed_api_client, weekday_hours
):
    post(routed_api_client, THURSDAY_MORNING, preferred_channel="email", email="m@example.org")
    known = post(routed_api_client, SUNDAY_AFTERNOON, phone="(202) 555-0144")
    unknown = post(routed_api_client, SUNDAY_AFTERNOON, phone="(202) 555-0199")

    assert known["next_contact"] == unknown["next_contact"]


class TestContactChannel:
    """The one rule the answer, the thank-you page and the confirmations share."""

    def channel(self, **given):
        values = {
            "preferred_channel": "call",
            "phone": "+12025550143",
            "email": "",
            "sms_consent": False,
            "sms_reachable": True,
        }
        return next_contact.contact_channel(**{**values, **given})

    def test_a_text_needs_consent_and_a_phone_that_takes_texts(self):
        assert self.channel(preferred_channel="sms", sms_consent=True) == "text"
        assert self.channel(preferred_channel="sms", sms_consent=False) == "call"
        assert self.channel(preferred_channel="sms", sms_consent=True, sms_reachable=False) == (
            "call"
        )

    def test_an_address_alone_is_emailed_whatever_the_channel_said(self):
        assert self.channel(phone="", email="a@example.org") == "email"
        assert self.channel(phone="", email="a@example.org", preferred_channel="sms") == "email"

    def test_email_is_used_when_asked_for_and_a_call_otherwise(self):
        assert self.channel(preferred_channel="email", email="a@example.org") == "email"
        assert self.channel(email="a@example.org") == "call"
