"""On a phone the form sits at the end of a long article: a "Request a call" button
stays at the bottom of the screen, jumps to the form with the focus in its first field,
and is gone once the form is in view; on a laptop there is none."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SLUG

pytestmark = pytest.mark.django_db(transaction=True)

ARTICLE = f"/articles/{SLUG}/"
# Layout shifts the page made (scrolling is not one), summed as CLS would be.
LAYOUT_SHIFT = """() => new Promise(done => {
  let total = 0;
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) total += entry.value;
  }).observe({type: "layout-shift", buffered: true});
  setTimeout(() => done(total), 300);
})"""


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def _wait_for_form_at_top(page) -> None:
    # Polled from here: the page's CSP refuses the eval wait_for_function needs.
    for _ in range(100):
        if abs(page.evaluate("document.getElementById('cta').getBoundingClientRect().top")) < 2:
            return
        page.wait_for_timeout(50)
    raise AssertionError("the form never reached the top of the screen")


def test_on_a_phone_the_button_jumps_to_the_form_and_focuses_its_first_field(
    open_page, live_server, demo_article
):
    page, log = open_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{ARTICLE}")
    page.wait_for_load_state("load")

    button = page.get_by_role("link", name="Request a call")
    expect(button).to_be_visible()
    box = button.bounding_box()
    # At the bottom of the screen from the start, a comfortable target, on screen.
    assert 844 - 80 <= box["y"] + box["height"] <= 844, box
    assert box["height"] >= 44 and box["width"] >= 44
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollHeight") > 3 * 844  # a long page

    button.click()

    expect(page.get_by_label("First name", exact=True)).to_be_focused()
    _wait_for_form_at_top(page)
    expect(button).to_be_hidden()  # the form is in view
    assert page.evaluate("location.hash") == "#cta"
    assert page.evaluate(LAYOUT_SHIFT) == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # Reading back up, it comes back.
    page.evaluate("window.scrollTo(0, 0)")
    expect(button).to_be_visible()
    assert log.foreign() == []

    # Once the request is sent it has nothing more to offer.
    button.click()
    page.keyboard.type("Maria")
    page.get_by_label("Phone", exact=True).fill("(202) 555-0143")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/leads/")):
        page.get_by_role("button", name="Request a callback").click()
    expect(page.locator(".success")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(100)
    expect(button).to_be_hidden()


def test_on_a_phone_the_button_never_covers_the_form_and_lets_taps_through_beside_it(
    open_page, live_server, demo_article
):
    page, _log = open_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{ARTICLE}")
    page.wait_for_load_state("load")
    button = page.get_by_role("link", name="Request a call")
    form_top = page.evaluate("document.getElementById('cta').getBoundingClientRect().top + scrollY")

    # From well before the form to the form filling the screen, step by step.
    for y in range(int(form_top) - 2 * 844, int(form_top) + 200, 211):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(50)
        if button.is_visible():
            assert not _overlap(button.bounding_box(), page.locator("#cta").bounding_box()), y
    # The strip around the button takes no taps: what is beside it gets them.
    page.evaluate(f"window.scrollTo(0, {int(form_top) - 2 * 844})")
    box = page.locator("[data-cta-jump]").bounding_box()
    under = page.evaluate(
        f"document.elementFromPoint(20, {box['y'] + box['height'] / 2}).closest('[data-cta-jump]')"
    )
    assert under is None


def test_with_less_motion_asked_for_the_jump_is_instant(browser, live_server, demo_article):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, reduced_motion="reduce", timezone_id="UTC"
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}{ARTICLE}")
        page.wait_for_load_state("load")
        page.get_by_role("link", name="Request a call").click()
        # Read at once, no animation frames in between.
        top = page.evaluate("document.getElementById('cta').getBoundingClientRect().top")
        assert abs(top) < 2
        assert page.evaluate("document.activeElement.id") == "cta-first-name"
    finally:
        context.close()


def test_without_javascript_the_button_is_a_plain_link_to_the_form(
    open_page, live_server, demo_article
):
    page, _log = open_page(js=False)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{ARTICLE}")

    button = page.get_by_role("link", name="Request a call")
    expect(button).to_be_visible()
    assert button.get_attribute("href") == "#cta"
    button.click()
    _wait_for_form_at_top(page)


def test_on_a_laptop_there_is_no_button_and_no_room_kept_for_it(
    open_page, live_server, demo_article
):
    page, _log = open_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}{ARTICLE}")

    expect(page.get_by_role("link", name="Request a call")).to_be_hidden()
    assert page.locator("[data-cta-jump]").bounding_box() is None  # display: none
