"""The CTA's answer in a real browser says when and how we will be in touch: on a closed
day "We're closed now" and the opening in the reader's own zone, "will email you" to
someone who left only an address, and the page without JavaScript says the same."""

from __future__ import annotations

import os
import re
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from clinic import business_time
from clinic.models import ClinicClosure, OpeningHours
from intake.models import Submission
from tests.browser.conftest import SLUG

pytestmark = pytest.mark.django_db(transaction=True)

ARTICLE = f"/articles/{SLUG}/"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
# The browser is in Chicago (conftest), the clinic in New York: it opens at 7:00 there.
OPENS_TOMORROW = re.compile(r"tomorrow after we open at 7:00 AM C[SD]T\.")


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def closed_today(transactional_db, settings):
    """A New York clinic open 8:00 to 20:00 every day, but closed all of today, at noon
    there: between midnight in New York and midnight in Chicago the reader's "tomorrow"
    would be two days away."""
    settings.CLINIC_TIME_ZONE = "America/New_York"
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    for day in range(7):
        OpeningHours.objects.create(weekday=day, opens_at=time(8), closes_at=time(20))
    zone = ZoneInfo("America/New_York")
    today = timezone.localtime(timezone.now(), zone).date()
    ClinicClosure.objects.create(day=today, reason="Closed")
    business_time.forget()
    with time_machine.travel(datetime.combine(today, time(12), tzinfo=zone), tick=True):
        yield
    business_time.forget()


def _send(page, **fields):
    page.get_by_label("First name", exact=True).fill("Maria")
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/leads/")) as answer:
        page.get_by_role("button", name="Request a callback").click()
    return answer.value


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_on_a_closed_day_the_answer_says_so_and_when_we_will_call_in_the_readers_zone(
    open_page, live_server, demo_article, closed_today, width, height
):
    page, log = open_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}{ARTICLE}")

    answer = _send(page, Phone="(202) 555-0143")

    assert answer.status == 201
    said = page.locator(".success .next-contact")
    expect(said).to_have_text(answer.json()["next_contact"]["text"])
    expect(said).to_contain_text("We're closed now. A care coordinator will call you")
    expect(said).to_have_text(re.compile(OPENS_TOMORROW.pattern))
    expect(page.locator(".success")).not_to_contain_text("soon")
    expect(page.locator(".success")).to_be_focused()
    box = said.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert log.foreign() == []

    if os.environ.get("SAVE_SCREENSHOTS"):
        page.locator("#cta").evaluate("el => el.scrollIntoView({block: 'center'})")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"cta-answer-{width}.png")


def test_someone_who_left_only_an_email_is_told_we_will_email(
    open_page, live_server, demo_article, closed_today
):
    page, _log = open_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{ARTICLE}")

    answer = _send(page, Email="maria@example.org")

    assert answer.json()["next_contact"]["channel"] == "email"
    said = page.locator(".success .next-contact")
    expect(said).to_contain_text("A care coordinator will email you")
    expect(page.locator("#cta")).not_to_contain_text("call you")


def test_a_crisis_on_a_closed_day_keeps_988_and_gives_the_opening_as_the_latest(
    open_page, live_server, demo_article, closed_today
):
    page, _log = open_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{ARTICLE}")
    page.get_by_label("I need help right now").check()

    _send(page, Phone="(202) 555-0143")

    success = page.locator(".success")
    expect(success).to_contain_text("Help is available right now")
    expect(success).to_contain_text("988")
    expect(success.locator(".next-contact")).to_contain_text(
        "your request is first in our queue: a care coordinator will call you as early as "
        "they can, at the latest tomorrow"
    )
    expect(success).not_to_contain_text("soon")


def test_without_javascript_the_thank_you_page_says_the_same(
    open_page, live_server, demo_article, closed_today
):
    page, _log = open_page(js=False)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{ARTICLE}")
    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Email", exact=True).fill("maria@example.org")
    page.get_by_role("button", name="Request a callback").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, we received your request")
    said = page.locator("main .next-contact")
    # No zone from a browser without JavaScript: the clinic's, and it says so.
    expect(said).to_contain_text("We're closed now. A care coordinator will email you tomorrow")
    expect(said).to_contain_text("Times are in the clinic's time zone (America/New York).")
    expect(page.locator("main")).to_contain_text(Submission.objects.get().reference)
