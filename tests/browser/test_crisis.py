"""In Chromium: a crisis request's callback page opens with the banner, and a refused
text keeps what the coordinator typed, with the error by the field."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from scheduling.models import Callback
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401 (a fixture)
from tests.browser.test_console import sign_in
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = "I want to end my life, please call"


@pytest.fixture
def coordinator():
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    return user


def test_a_crisis_callback_opens_with_the_banner_and_a_refused_text_keeps_its_words(
    open_page, live_server, coordinator, settings
):
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.CRISIS_PROTOCOL_STEPS = ["Call now", "Offer 988"]
    routine = submit_lead(first_name="Robin", message="Mornings please")
    crisis = submit_lead(first_name="Alex", message=WORDS)
    callback = Callback.objects.get(submission=crisis)
    assert Callback.objects.get(submission=routine).due_at > callback.due_at
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server, coordinator)

    page.get_by_role("button", name="Next callback").click()  # the crisis comes first
    page.wait_for_url(f"{live_server.url}/console/callbacks/{callback.pk}/")
    banner = page.locator(".crisis-banner")
    assert banner.is_visible()
    assert banner.get_attribute("role") == "alert"
    assert banner.get_by_text(WORDS).is_visible()
    steps = banner.locator(".protocol li").all_inner_texts()
    # Reaching the person on the number the request gave always comes first.
    assert steps[0].startswith("Reach the person first, before any emergency dispatch")
    assert steps[1:] == ["Call now", "Offer 988"]
    box = banner.bounding_box()
    assert box is not None and box["y"] < 768  # seen without scrolling
    background = banner.evaluate("el => getComputedStyle(el).borderTopColor")
    assert background == "rgb(180, 35, 24)"

    typed = "Hi Alex, about your therapy"
    page.get_by_label("Message (no health details)").fill(typed)
    page.get_by_role("button", name="Send text").click()
    page.wait_for_load_state()
    assert page.get_by_label("Message (no health details)").input_value() == typed
    error = page.locator("#sms-error")
    assert error.get_attribute("role") == "alert"
    assert "A text must not name health information" in error.inner_text()
    assert error.evaluate("el => getComputedStyle(el).color") == "rgb(180, 35, 24)"
    assert log.foreign() == []


def test_the_crisis_banner_and_a_field_error_have_no_serious_violations(
    axe_page,  # noqa: F811
    live_server,
    coordinator,
):
    callback = Callback.objects.get(submission=submit_lead(first_name="Alex", message=WORDS))
    page = axe_page()
    sign_in(page, live_server, coordinator)
    page.goto(f"{live_server.url}/console/callbacks/{callback.pk}/")
    page.get_by_label("Message (no health details)").fill("About your therapy")
    page.get_by_role("button", name="Send text").click()
    page.wait_for_load_state()
    assert page.locator(".crisis-banner").is_visible() and page.locator("#sms-error").is_visible()

    assert serious_violations(page) == []
