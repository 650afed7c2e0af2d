"""The console's queue page has the instant-calls toggle too, not only the profile
page: a coordinator starts and stops taking instant calls where they work."""

from __future__ import annotations

import pytest
from django.utils import timezone

from clinic.crypto import phone_hash
from scheduling.models import StaffCallSettings
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

PHONE = "+12025550101"
TOGGLE = "/console/profile/availability/"


@pytest.fixture
def signed_in(client, coordinator):
    verified_login(client, coordinator)
    return client


def confirmed_phone(user) -> StaffCallSettings:
    return StaffCallSettings.objects.create(
        user=user, phone=PHONE, phone_hash=phone_hash(PHONE), verified_at=timezone.now()
    )


def test_without_a_confirmed_phone_the_queue_page_sends_to_the_profile(signed_in):
    page = signed_in.get("/console/").content.decode()

    assert 'id="instant-calls"' in page
    assert "confirm your phone" in page and 'href="/console/profile/"' in page
    assert "Take instant calls" not in page


def test_instant_calls_are_taken_and_stopped_from_the_queue_page(signed_in, coordinator):
    confirmed_phone(coordinator)
    page = signed_in.get("/console/").content.decode()
    assert "You are not taking instant calls." in page
    assert 'name="next" value="console"' in page

    taken = signed_in.post(TOGGLE, {"available": "true", "next": "console"}, follow=True)

    assert taken.redirect_chain[-1][0] == "/console/"
    assert "Taking instant calls" in taken.content.decode()
    assert "You are taking instant calls." in taken.content.decode()
    assert StaffCallSettings.objects.get(user=coordinator).available is True

    stopped = signed_in.post(TOGGLE, {"available": "false", "next": "console"}, follow=True)

    assert stopped.redirect_chain[-1][0] == "/console/"
    assert "You are not taking instant calls." in stopped.content.decode()
    assert StaffCallSettings.objects.get(user=coordinator).available is False


def test_the_toggle_returns_only_to_the_queue_or_the_profile(signed_in, coordinator):
    confirmed_phone(coordinator)

    elsewhere = signed_in.post(TOGGLE, {"available": "true", "next": "https://evil.example/"})

    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/console/profile/"
