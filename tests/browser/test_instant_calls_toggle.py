"""The instant-calls toggle on the console's queue page, in Chromium at a phone's width
(390 px) and a laptop's (1366 px): reached and pressed from the keyboard, it says
whether you take instant calls, and stopping is one press more."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from clinic.crypto import phone_hash
from scheduling.models import StaffCallSettings
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401
from tests.browser.test_console import WIDTHS, sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+12025550101"


@pytest.fixture
def coordinator():
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    StaffCallSettings.objects.create(
        user=user, phone=PHONE, phone_hash=phone_hash(PHONE), verified_at=timezone.now()
    )
    return user


def focus_on(page, name: str) -> None:
    """Tab from the top of the page until the button named ``name`` has the focus."""
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == name:
            return
    raise AssertionError(f"{name!r} cannot be reached with Tab")


@pytest.mark.parametrize("size", WIDTHS)
def test_instant_calls_are_taken_and_stopped_from_the_queue_page_by_keyboard(
    open_page, live_server, coordinator, size
):
    page, log = open_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server, coordinator)
    toggle = page.locator("#instant-calls")
    assert "You are not taking instant calls." in toggle.inner_text()

    focus_on(page, "Take instant calls")
    with page.expect_navigation(url=f"{live_server.url}/console/"):
        page.keyboard.press("Enter")

    assert "Taking instant calls" in page.locator("#instant-calls").inner_text()
    assert page.get_by_role("status").filter(has_text="You are taking instant calls.").count()
    assert StaffCallSettings.objects.get(user=coordinator).available is True
    assert page.evaluate("() => document.documentElement.scrollWidth") <= size[0]
    stop = page.get_by_role("button", name="Stop taking instant calls")
    assert stop.is_visible()

    focus_on(page, "Stop taking instant calls")
    with page.expect_navigation(url=f"{live_server.url}/console/"):
        page.keyboard.press("Enter")

    assert "You are not taking instant calls." in page.locator("#instant-calls").inner_text()
    assert StaffCallSettings.objects.get(user=coordinator).available is False
    assert log.foreign() == []


def test_the_queue_page_of_a_coordinator_taking_instant_calls_has_no_serious_violations(
    axe_page,  # noqa: F811
    live_server,
    coordinator,
):
    StaffCallSettings.objects.filter(user=coordinator).update(
        available=True, available_since=timezone.now()
    )
    page = axe_page(390, 844)
    sign_in(page, live_server, coordinator)
    assert page.get_by_role("button", name="Stop taking instant calls").is_visible()
    assert serious_violations(page) == []
