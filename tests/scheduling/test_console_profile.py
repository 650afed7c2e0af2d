"""The console's profile page: set, confirm and change one's own phone for the
clinic's calls, and take instant calls or stop, server-rendered like the rest of the
console and linked from its header."""

from __future__ import annotations

import re

import pytest

from scheduling.models import StaffCallSettings
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

PHONE = "+12025550101"


@pytest.fixture
def signed_in(client, coordinator, django_capture_on_commit_callbacks):
    verified_login(client, coordinator)
    post = client.post

    def post_then_deliver(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(*args, follow=True, **kwargs)

    client.post = post_then_deliver
    return client


def code_from(sms_outbox) -> str:
    return re.search(r"\b(\d{6})\b", sms_outbox[-1].body).group(1)


def test_the_console_header_links_to_the_profile(signed_in):
    page = signed_in.get("/console/").content.decode()
    assert 'href="/console/profile/"' in page


def test_a_new_member_of_staff_is_asked_for_a_number_and_cannot_take_instant_calls(signed_in):
    page = signed_in.get("/console/profile/").content.decode()

    assert "You have not given a phone yet." in page
    assert 'name="phone"' in page and 'name="code"' not in page
    assert "Confirm your phone first" in page
    assert "Take instant calls" not in page


def test_the_phone_is_set_confirmed_and_made_available_from_the_page(
    signed_in, coordinator, sms_outbox
):
    sent = signed_in.post("/console/profile/phone/", {"phone": "202-555-0101"})
    page = sent.content.decode()
    assert "We texted you a code" in page
    assert "(202) 555-0101" in page and "Not confirmed" in page
    assert 'name="code"' in page

    confirmed = signed_in.post("/console/profile/verify/", {"code": code_from(sms_outbox)})
    assert "Your phone is confirmed." in confirmed.content.decode()
    assert "Take instant calls" in confirmed.content.decode()

    available = signed_in.post("/console/profile/availability/", {"available": "true"})
    assert "You are taking instant calls." in available.content.decode()
    assert StaffCallSettings.objects.get(user=coordinator).available is True

    stopped = signed_in.post("/console/profile/availability/", {"available": "false"})
    assert "not available" in stopped.content.decode()
    assert StaffCallSettings.objects.get(user=coordinator).available is False


def test_a_wrong_code_and_a_bad_number_are_shown_as_errors(signed_in, coordinator, sms_outbox):
    bad = signed_in.post("/console/profile/phone/", {"phone": "12"})
    assert 'role="alert"' in bad.content.decode()
    assert "Enter a valid phone number." in bad.content.decode()

    signed_in.post("/console/profile/phone/", {"phone": PHONE})
    code = code_from(sms_outbox)
    wrong = signed_in.post(
        "/console/profile/verify/", {"code": "000000" if code != "000000" else "111111"}
    )

    assert "That is not the code: 4 tries left." in wrong.content.decode()
    assert StaffCallSettings.objects.get(user=coordinator).verified_at is None


def test_availability_without_a_confirmed_phone_is_refused_on_the_page(signed_in, coordinator):
    answer = signed_in.post("/console/profile/availability/", {"available": "true"})

    assert "Confirm your phone first" in answer.content.decode()
    assert not StaffCallSettings.objects.filter(user=coordinator, available=True).exists()


def test_marketing_may_not_open_the_profile_page(client, marketer):
    verified_login(client, marketer)
    assert client.get("/console/profile/").status_code == 403
    assert client.post("/console/profile/phone/", {"phone": PHONE}).status_code == 403
    assert not StaffCallSettings.objects.exists()
