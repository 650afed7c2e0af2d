"""The browser softphone's access token (POST /api/v1/me/voice-token/): a Twilio
Voice grant for the clinic's TwiML App, minted per member of staff for 5 minutes,
only where the softphone is set up."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
import time_machine
from django.utils import timezone

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/voice-token/"
API_KEY = "SK" + "4" * 32
API_SECRET = "softphone-test-secret-0123456789abcdef"
APP_SID = "AP" + "5" * 32
ACCOUNT_SID = "AC" + "6" * 32


@pytest.fixture
def softphone(settings):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_API_KEY = API_KEY
    settings.TWILIO_API_SECRET = API_SECRET
    settings.TWILIO_TWIML_APP_SID = APP_SID


def test_a_token_grants_outgoing_calls_through_the_clinics_app_for_five_minutes(
    softphone, api_client, coordinator
):
    api_client.force_authenticate(coordinator)
    now = timezone.now().replace(microsecond=0)

    with time_machine.travel(now, tick=False):
        response = api_client.post(URL)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    claims = jwt.decode(body["token"], API_SECRET, algorithms=["HS256"])
    assert claims["iss"] == API_KEY and claims["sub"] == ACCOUNT_SID
    assert claims["exp"] - int(now.timestamp()) == 300
    assert claims["grants"] == {
        "identity": f"staff-{coordinator.pk}",
        # Outgoing only: no "incoming" grant, so nobody can ring the browser.
        "voice": {"outgoing": {"application_sid": APP_SID}},
    }
    assert body["identity"] == f"staff-{coordinator.pk}"
    assert body["expires_at"].startswith((now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    # No name reaches Twilio.
    assert coordinator.username not in str(claims)


def test_each_member_of_staff_gets_their_own_identity(
    softphone, api_client, coordinator, supervisor
):
    api_client.force_authenticate(coordinator)
    mine = api_client.post(URL).json()["identity"]
    api_client.force_authenticate(supervisor)
    theirs = api_client.post(URL).json()["identity"]
    assert mine != theirs


def test_without_a_softphone_there_is_no_token(api_client, coordinator, settings):
    settings.TWILIO_API_KEY = settings.TWILIO_API_SECRET = settings.TWILIO_TWIML_APP_SID = ""
    api_client.force_authenticate(coordinator)

    response = api_client.post(URL)

    assert response.status_code == 404
    assert response.json()["code"] == "softphone_not_configured"


def test_marketing_and_strangers_get_no_token(softphone, api_client, marketer):
    assert api_client.post(URL).status_code in (401, 403)
    api_client.force_authenticate(marketer)
    assert api_client.post(URL).status_code == 403
