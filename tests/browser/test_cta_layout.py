"""The short form on a phone and a laptop: what a reader sees without scrolling once
the call to action is on screen, the clinic's number one tap away, the rest of the
form one tap further, and side padding from 320 to 1440 px."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.browser.conftest import SLUG

pytestmark = pytest.mark.django_db(transaction=True)

ARTICLE = f"/articles/{SLUG}/"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
SHORT_FORM = [
    ("label", "First name"),
    ("label", "Phone"),
    ("label", "Email"),
    ("label", "I need help right now"),
    ("label", "I agree to receive text messages"),
    ("role", "button"),
]


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _short_form(page):
    for kind, name in SHORT_FORM:
        if kind == "role":
            yield name, page.get_by_role("button", name="Request a callback")
        else:
            yield name, page.get_by_label(name, exact=name != "I agree to receive text messages")


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_the_short_form_and_the_clinic_number_are_on_screen_together(
    open_page, live_server, demo_article, settings, width, height
):
    settings.CLINIC_PHONE = "+14753292686"
    page, log = open_page()
    page.set_viewport_size({"width": width, "height": height})
    # The reader reaches the call to action (end of the article, or a link to #cta).
    page.goto(f"{live_server.url}{ARTICLE}#cta")
    page.locator("#cta").evaluate("el => el.scrollIntoView({block: 'start'})")

    for name, locator in _short_form(page):
        box = locator.bounding_box()
        assert box is not None, name
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (name, box)

    phone = page.locator("#cta a.cta-phone")
    assert phone.text_content() == "(475) 329-2686"
    assert phone.get_attribute("href") == "tel:+14753292686"
    box = phone.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height

    # The rest is one tap away, closed until asked for, and still sent as before.
    message = page.get_by_label("Anything you'd like us to know?")
    expect(message).to_be_hidden()
    page.get_by_text("More options").click()
    expect(message).to_be_visible()
    expect(page.get_by_label("How should we reach you?")).to_be_visible()
    expect(page.get_by_label("Best time")).to_be_visible()
    expect(page.get_by_label("You may leave a voicemail if I don't answer.")).to_be_visible()
    # The 988 notice stays last, after the button.
    crisis = page.locator("#cta p.crisis")
    button = page.get_by_role("button", name="Request a callback")
    assert crisis.bounding_box()["y"] > button.bounding_box()["y"]
    assert log.foreign() == []

    if os.environ.get("SAVE_SCREENSHOTS"):
        page.get_by_text("More options").click()  # closed again, as a reader first sees it
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"article-cta-{width}x{height}.png")


@pytest.mark.parametrize("width", [320, 390, 768, 1440])
def test_the_form_keeps_side_padding_and_never_scrolls_sideways(
    open_page, live_server, demo_article, width
):
    page, _log = open_page()
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}{ARTICLE}#cta")

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    form = page.locator("#cta").bounding_box()
    assert form["x"] >= 12 and width - (form["x"] + form["width"]) >= 12
    field = page.get_by_label("First name", exact=True).bounding_box()
    assert field["x"] - form["x"] >= 12  # the form's own padding, too


def test_an_error_behind_more_options_opens_it_and_takes_the_focus(
    open_page, live_server, demo_article
):
    page, _log = open_page()
    page.goto(f"{live_server.url}{ARTICLE}")
    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Phone", exact=True).fill("202-555-0143")
    page.get_by_text("More options").click()
    page.get_by_label("Anything you'd like us to know?").fill("x" * 2001)
    page.locator("#cta-message").evaluate("el => el.removeAttribute('maxlength')")
    page.locator("#cta-message").fill("x" * 2001)
    page.get_by_text("More options").click()  # closed again before sending
    with page.expect_response(lambda r: r.url.endswith("/api/v1/leads/")) as answer:
        page.get_by_role("button", name="Request a callback").click()

    assert answer.value.status == 400
    message = page.get_by_label("Anything you'd like us to know?")
    expect(message).to_be_visible()
    expect(message).to_be_focused()
    expect(message).to_have_attribute("aria-invalid", "true")
