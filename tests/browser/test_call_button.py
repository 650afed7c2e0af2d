"""The Call panel of the console's callback page, in Chromium at a phone's width (390
px) and a laptop's (1366 px): "Call from the clinic's number" is reached and pressed
from the keyboard and shows how the call goes; without the clinic's caller ID it is
disabled and says why, and the ``tel:`` fallback stays, reachable too."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from clinic.crypto import phone_hash
from notifications.voice import LocmemVoiceBackend
from scheduling import services
from scheduling.models import Call, StaffCallSettings
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401
from tests.browser.test_console import WIDTHS, sign_in
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+12025550101"
PERSON = "+12025550143"
CLINIC_ID = "+14753292686"


@pytest.fixture(autouse=True)
def _phone(settings):
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.CALL_RECORDING = False


@pytest.fixture
def coordinator():
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    StaffCallSettings.objects.create(
        user=user, phone=PHONE, phone_hash=phone_hash(PHONE), verified_at=timezone.now()
    )
    return user


@pytest.fixture
def held(coordinator):
    submission = submit_lead(first_name="Dana", phone=PERSON)
    services.submission_route(submission_id=submission.pk)
    callback = services.callback_claim_next(user_id=coordinator.pk)
    assert callback is not None
    return callback


def focus_on(page, name: str) -> str:
    """Tab from the top of the page until the control named ``name`` has the focus."""
    page.locator("body").focus()
    for _ in range(120):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == name:
            return page.evaluate("() => document.activeElement.id")
    raise AssertionError(f"{name!r} cannot be reached with Tab")


@pytest.mark.parametrize("size", WIDTHS)
def test_the_holder_calls_from_the_clinics_number_by_keyboard(
    open_page, live_server, coordinator, held, size
):
    page, log = open_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server, coordinator)
    page.goto(f"{live_server.url}/console/callbacks/{held.pk}/")
    button = page.locator("#call-button")
    assert button.is_enabled()

    assert focus_on(page, "Call from the clinic's number") == "call-button"
    page.keyboard.press("Enter")

    status = page.locator("#call-status")
    status.wait_for()
    assert status.get_attribute("data-status") == "ringing"
    assert "Ringing your phone" in status.inner_text()
    call = Call.objects.get()
    assert (call.coordinator_id, call.callback_id) == (coordinator.pk, held.pk)
    assert len(LocmemVoiceBackend.sent_to(PHONE)) == len(LocmemVoiceBackend.calls) == 1
    # On the call: the button says so and places no second one.
    assert page.locator("#call-button").is_disabled()
    assert "on a call already" in page.locator("#call-why-not").inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= size[0]
    assert log.foreign() == []


@pytest.mark.parametrize("size", WIDTHS)
def test_without_a_caller_id_the_button_says_why_and_the_fallback_is_reachable(
    open_page, live_server, coordinator, held, settings, size
):
    settings.CLINIC_CALLER_ID = ""
    page, _log = open_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server, coordinator)
    page.goto(f"{live_server.url}/console/callbacks/{held.pk}/")

    button = page.locator("#call-button")
    assert button.is_disabled()
    described = button.get_attribute("aria-describedby")
    assert "caller ID is not set up" in page.locator(f"#{described}").inner_text()
    assert focus_on(page, "call from your own phone") == "call-fallback"
    assert page.locator("#call-fallback").get_attribute("href") == f"tel:{PERSON}"
    assert not Call.objects.exists()


def test_the_callback_page_with_its_call_panel_has_no_serious_violations(
    axe_page,  # noqa: F811
    live_server,
    coordinator,
    held,
):
    page = axe_page(390, 844)
    sign_in(page, live_server, coordinator)
    page.goto(f"{live_server.url}/console/callbacks/{held.pk}/")
    assert page.get_by_role("button", name="Call from the clinic's number").is_visible()
    assert serious_violations(page) == []
