"""The callback page's Call panel (scheduling/call_views.py): "Call from the clinic's
number" for the holder with a confirmed phone, disabled and saying why otherwise, the
``tel:`` link kept as the fallback from one's own phone; the form places the call
without JavaScript, and htmx gets the panel back and polls it while the call is live."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from clinic.crypto import phone_hash
from scheduling import services
from scheduling.models import Call, Callback, StaffCallSettings
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"
CLINIC_ID = "+14753292686"


@pytest.fixture(autouse=True)
def _phone(settings, fake_twilio):
    settings.PUBLIC_BASE_URL = "https://clinic.example"
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.CALL_RECORDING = False


@pytest.fixture
def signed_in(client, coordinator):
    verified_login(client, coordinator)
    StaffCallSettings.objects.create(
        user=coordinator,
        phone=STAFF_PHONE,
        phone_hash=phone_hash(STAFF_PHONE),
        verified_at=timezone.now(),
    )
    return client


@pytest.fixture
def callback(route):
    submission = submit_lead(first_name="Dana", phone=PERSON)
    return route(submission) or Callback.objects.get(submission=submission)


@pytest.fixture
def held(callback, coordinator):
    assert services.callback_claim_next(user_id=coordinator.pk).pk == callback.pk
    return callback


def button(html: str) -> str:
    (tag,) = re.findall(r'<button type="submit" id="call-button"[^>]*>', html)
    return tag


def page(client, callback) -> str:
    response = client.get(f"/console/callbacks/{callback.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_holder_may_call_from_the_clinics_number_and_keeps_the_fallback(signed_in, held):
    html = page(signed_in, held)

    assert "disabled" not in button(html)
    assert "Call from the clinic's number</button>" in html
    assert f'<a href="tel:{PERSON}" id="call-fallback">call from your own phone</a>' in html


def test_without_a_caller_id_the_button_says_why_and_the_fallback_stays(signed_in, held, settings):
    settings.CLINIC_CALLER_ID = ""

    html = page(signed_in, held)

    assert "disabled" in button(html) and 'aria-describedby="call-why-not"' in button(html)
    assert "caller ID is not set up" in html
    assert 'id="call-fallback"' in html


def test_without_a_confirmed_phone_the_button_sends_to_the_profile(signed_in, held, coordinator):
    StaffCallSettings.objects.filter(user=coordinator).update(verified_at=None)

    html = page(signed_in, held)

    assert "disabled" in button(html)
    assert "Confirm your own phone" in html and 'href="/console/profile/"' in html


def test_someone_not_holding_the_callback_cannot_call(signed_in, callback):
    html = page(signed_in, callback)

    assert "disabled" in button(html) and "Take this callback" in html


def test_the_form_places_the_call_without_javascript(
    signed_in, held, django_capture_on_commit_callbacks, fake_twilio
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/console/callbacks/{held.pk}/call/")

    assert response.status_code == 302
    assert response.url == f"/console/callbacks/{held.pk}/"
    call = Call.objects.get()
    assert call.kind == "click_to_call" and len(fake_twilio.voice.creates) == 1
    html = page(signed_in, held)
    assert 'data-status="ringing"' in html and "Ringing your phone" in html
    # On the call: no second one from the page.
    assert "disabled" in button(html) and "on a call already" in html


def test_htmx_gets_the_panel_back_and_polls_it_while_live(
    signed_in, held, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/console/callbacks/{held.pk}/call/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith("{#") is False
    assert 'id="call-panel"' in html and 'hx-trigger="every 2s"' in html
    status = signed_in.get(f"/console/callbacks/{held.pk}/call/status/").content.decode()
    assert 'data-status="ringing"' in status


def test_a_refused_press_shows_why_in_the_panel(signed_in, callback):
    response = signed_in.post(f"/console/callbacks/{callback.pk}/call/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert not Call.objects.exists()
