"""A waitlist offer from its text's link on a phone (390 px) and a laptop: the time in
the person's own zone and how it takes place, buttons a thumb can press, nothing wider
than the screen, no serious accessibility violation; the first to accept books it and
the second is told it was taken. Nothing on the page names the person."""

from __future__ import annotations

import re

import pytest
import time_machine

from notifications.models import Message
from scheduling import services
from scheduling.models import Appointment
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401
from tests.scheduling.conftest import MONDAY_MORNING, ny
from tests.scheduling.waitlist_setup import (
    book_up,
    lead,
    monday_clinician,
    wait,
    waitlist_configure,
)

pytestmark = pytest.mark.django_db(transaction=True)


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def monday_morning(settings):
    """Monday 30 November 2026, 8:00 in New York, time stopped, no quiet hours."""
    settings.CLINIC_TIME_ZONE = "America/New_York"
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "23:59", "00:00"
    waitlist_configure(settings)
    with time_machine.travel(MONDAY_MORNING, tick=False):
        yield


@pytest.fixture
def offer_paths(monday_morning, coordinator):
    """Ann (Los Angeles) and Bea, both waiting, offered Monday 11:00 (New York) after a
    cancellation: {name: the link's path}."""
    from scheduling.services import submission_route

    def route(submission):
        return submission_route(submission_id=submission.pk)

    booked = book_up(monday_clinician(), route)
    people = {
        "Ann": lead(route, first_name="Ann", last_name="Quill", tz_name="America/Los_Angeles"),
        "Bea": lead(route, first_name="Bea", last_name="Quill"),
    }
    for lead_id in people.values():
        wait(lead_id, coordinator)
    services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    return {
        name: re.search(
            r"https?://[^/]+(/w/\S+/)",
            Message.objects.get(correlation=f"lead:{lead_id}", template="waitlist_offer").body,
        ).group(1)
        for name, lead_id in people.items()
    }


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_the_first_to_accept_books_it_and_the_second_is_told(
    axe_page,  # noqa: F811
    live_server,
    offer_paths,
    width,
    height,
):
    page = axe_page(width, height)
    page.goto(live_server.url + offer_paths["Ann"])

    expect(page.get_by_role("heading", level=1)).to_have_text("A consultation time opened up")
    body = page.locator("body").inner_text()
    assert "Monday, November 30 at 8:00 AM PST (in person)" in body
    assert "Ann" not in body and "Quill" not in body
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for name in ("Accept this time", "Not this time", "Take me off the waitlist"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box["height"] >= 40 and box["x"] + box["width"] <= width, name
    assert serious_violations(page) == []

    page.get_by_role("button", name="Accept this time").click()
    expect(page.get_by_role("status")).to_contain_text("Your consultation is booked")
    expect(page.get_by_role("link", name="See or change your consultation")).to_be_visible()
    assert Appointment.objects.filter(starts_at=ny(30, 11), status="booked").count() == 1

    second = axe_page(width, height)
    second.goto(live_server.url + offer_paths["Bea"])
    expect(second.get_by_role("heading", level=1)).to_have_text("This time was taken")
    expect(second.get_by_text("You keep your place on the waitlist")).to_be_visible()
    expect(second.get_by_role("button", name="Accept this time")).to_have_count(0)
    assert second.evaluate("document.documentElement.scrollWidth") <= width
    assert serious_violations(second) == []
