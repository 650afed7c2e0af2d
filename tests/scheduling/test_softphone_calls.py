"""Calls from the console's browser softphone: the call is stored for the browser
(``POST /api/v1/callbacks/{id}/call/`` with ``{"via": "browser"}``), and the TwiML
App's signed voice webhook bridges the browser leg to the person, looked up by the
call's id (never a number from the browser), only for the member of staff who stored
it; the call then logs itself as a phone call does."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from clinic.crypto import phone_hash
from scheduling import services
from scheduling.models import Call, CallAttempt, CallLeg, StaffCallSettings
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db

BASE = "https://clinic.example"
PERSON = "+12025550143"
CLINIC_ID = "+14753292686"
BROWSER_SID = "CA" + "b" * 32
PERSON_SID = "CA" + "c" * 32


@pytest.fixture(autouse=True)
def _softphone(settings, fake_twilio):
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.CALL_RECORDING = False
    settings.TWILIO_API_KEY = "SK" + "0" * 32
    settings.TWILIO_API_SECRET = "secret"
    settings.TWILIO_TWIML_APP_SID = "AP" + "0" * 32


def coordinator_named(name: str):
    user = UserFactory(username=name)
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    return user


@pytest.fixture
def dana():
    # No phone of her own: the browser needs none.
    return coordinator_named("dana-coordinator")


@pytest.fixture
def stored(route, dana, django_capture_on_commit_callbacks):
    """A click-to-call stored for Dana's browser on a callback she holds."""
    submission = submit_lead(first_name="Dana", phone=PERSON)
    route(submission)
    callback = services.callback_claim_next(user_id=dana.pk)
    api = APIClient()
    api.force_authenticate(dana)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v1/callbacks/{callback.pk}/call/", {"via": "browser"}, format="json"
        )
    assert response.status_code == 202, response.content
    return Call.objects.get(pk=response.json()["call"])


def signed(client: Client, fake_twilio, path: str, params: dict[str, str]):
    signature = RequestValidator(fake_twilio.auth_token).compute_signature(BASE + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def connect(client, fake_twilio, *, user_id: int, call_id: object, sid: str = BROWSER_SID):
    return signed(
        client,
        fake_twilio,
        "/webhooks/twilio/calls/browser/",
        {"CallSid": sid, "From": f"client:staff-{user_id}", "call": str(call_id)},
    )


def test_the_browser_leg_is_bridged_to_the_person_and_the_call_logs_itself(
    client, fake_twilio, stored, dana
):
    assert fake_twilio.voice.creates == []  # nothing rings a phone

    response = connect(client, fake_twilio, user_id=dana.pk, call_id=stored.pk)

    dial = ET.fromstring(response.content).find("Dial")  # noqa: S314
    assert (dial.get("callerId"), dial.find("Number").text) == (CLINIC_ID, PERSON)
    assert CallLeg.objects.get(call=stored, role="coordinator").provider_id == BROWSER_SID
    person_status = f"/webhooks/twilio/calls/{stored.pk}/status/person/"
    for status, extra in (
        ("ringing", {}),
        ("in-progress", {}),
        ("completed", {"CallDuration": "95"}),
    ):
        signed(
            client,
            fake_twilio,
            person_status,
            {"CallSid": PERSON_SID, "ParentCallSid": BROWSER_SID, "CallStatus": status, **extra},
        )
    signed(
        client,
        fake_twilio,
        "/webhooks/twilio/calls/browser/status/",
        {"CallSid": BROWSER_SID, "CallStatus": "completed", "CallDuration": "100"},
    )

    (attempt,) = CallAttempt.objects.all()
    assert (attempt.call_id, attempt.result, attempt.duration_seconds) == (
        stored.pk,
        "connected",
        95,
    )
    stored.refresh_from_db()
    assert stored.ended_at is not None


def test_only_the_member_of_staff_who_stored_it_is_bridged(client, fake_twilio, stored):
    other = coordinator_named("someone-else")

    response = connect(client, fake_twilio, user_id=other.pk, call_id=stored.pk)

    root = ET.fromstring(response.content)  # noqa: S314
    assert root.find("Dial") is None and root[-1].tag == "Hangup"
    assert PERSON not in response.content.decode()
    assert CallLeg.objects.get(call=stored, role="coordinator").provider_id is None


@pytest.mark.parametrize("call_id", ["987654", "", "1; DROP", "+12025550143"])
def test_an_unknown_or_malformed_call_only_hangs_up(client, fake_twilio, stored, dana, call_id):
    response = connect(client, fake_twilio, user_id=dana.pk, call_id=call_id)

    assert response.status_code == 200
    assert ET.fromstring(response.content).find("Dial") is None  # noqa: S314
    assert PERSON not in response.content.decode()


def test_a_second_browser_leg_for_the_same_call_is_not_bridged(client, fake_twilio, stored, dana):
    connect(client, fake_twilio, user_id=dana.pk, call_id=stored.pk)

    again = connect(client, fake_twilio, user_id=dana.pk, call_id=stored.pk, sid="CA" + "d" * 32)

    assert ET.fromstring(again.content).find("Dial") is None  # noqa: S314


def test_an_unsigned_voice_webhook_is_refused(client, stored, dana):
    response = client.post(
        "/webhooks/twilio/calls/browser/",
        {"CallSid": BROWSER_SID, "From": f"client:staff-{dana.pk}", "call": str(stored.pk)},
    )

    assert response.status_code == 403
    assert CallLeg.objects.get(call=stored, role="coordinator").provider_id is None


def test_without_the_softphone_a_browser_call_is_refused(route, dana, settings, fake_twilio):
    settings.TWILIO_TWIML_APP_SID = ""
    submit = submit_lead(first_name="Dana", phone=PERSON)
    route(submit)
    callback = services.callback_claim_next(user_id=dana.pk)
    api = APIClient()
    api.force_authenticate(dana)

    response = api.post(f"/api/v1/callbacks/{callback.pk}/call/", {"via": "browser"}, format="json")
    bad = api.post(f"/api/v1/callbacks/{callback.pk}/call/", {"via": "fax"}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "softphone_not_configured"
    assert bad.status_code == 400 and "via" in bad.json()["fields"]
    assert not Call.objects.exists()


def test_the_callback_page_offers_the_softphone_and_lets_it_reach_twilio(client, route, dana):
    from tests.signin import verified_login

    StaffCallSettings.objects.create(
        user=dana,
        phone="+12025550101",
        phone_hash=phone_hash("+12025550101"),
        verified_at=timezone.now(),
    )
    submission = submit_lead(first_name="Dana", phone=PERSON)
    route(submission)
    callback = services.callback_claim_next(user_id=dana.pk)
    verified_login(client, dana)

    response = client.get(f"/console/callbacks/{callback.pk}/")

    html = response.content.decode()
    assert 'id="softphone-button"' in html and "twilio-voice-2.18.5.min.js" in html
    assert "wss://*.twilio.com" in response["Content-Security-Policy"]
    queue = client.get("/console/")
    assert "twilio.com" not in queue["Content-Security-Policy"]
