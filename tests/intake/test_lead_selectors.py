"""What intake tells scheduling and notifications about a lead."""

from __future__ import annotations

import pytest

from intake.selectors import ContactPreferences, lead_contact_preferences, lead_sms_reachable
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


def test_contact_preferences_are_the_leads_wishes():
    lead_id = submit_lead(contact_preferences={"voicemail_ok": True}).lead_id

    assert lead_contact_preferences(lead_id=lead_id) == ContactPreferences(
        voicemail_ok=True, mention_clinic_ok=True
    )


def test_an_unknown_lead_gets_the_most_discreet_preferences():
    assert lead_contact_preferences(lead_id=999_999) == ContactPreferences(
        voicemail_ok=False, mention_clinic_ok=False
    )


@pytest.mark.parametrize(
    ("phone", "reachable"),
    [
        ("+12025550143", True),  # US: fixed line or mobile
        ("+447911123456", False),  # a mobile, but not in SMS_ALLOWED_COUNTRIES
        ("+15145550199", True),  # Canada
    ],
)
def test_sms_reachability_follows_the_allowed_countries(phone, reachable):
    lead_id = submit_lead(phone=phone).lead_id
    assert lead_sms_reachable(lead_id=lead_id) is reachable


def test_a_fixed_line_gets_a_call_not_an_sms(settings):
    settings.SMS_ALLOWED_COUNTRIES = ["US", "GB"]
    landline = submit_lead(phone="+442071838750").lead
    mobile = submit_lead(phone="+447400123456").lead

    assert landline.phone_type == "fixed_line"
    assert lead_sms_reachable(lead_id=landline.pk) is False
    assert lead_sms_reachable(lead_id=mobile.pk) is True


def test_a_lead_without_a_phone_is_not_reachable_by_sms():
    lead_id = submit_lead(phone=None, email="only@example.org").lead_id
    assert lead_sms_reachable(lead_id=lead_id) is False
