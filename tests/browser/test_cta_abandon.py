"""A started form left unsent, in a real browser: cta.js sends one form_abandon beacon
naming the field touched last (never its value, never a cookie), and the server
counts it.

The beacon leaves as the page unloads, when Playwright no longer sees or routes the
page's requests and its per-page user agent no longer applies; so the browser here
is launched as a reader's (headless Chromium's own user agent is a bot's, answered
but not counted), and the beacon is read where it arrives, in the API view."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from intake.apis.events import CtaEventApi
from intake.services.events import _counter_key, clinic_day
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SLUG, require_browser

pytestmark = pytest.mark.django_db(transaction=True)

ARTICLE = f"/articles/{SLUG}/"
READER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
TYPED = "maria.quintero@example.com"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """conftest's browser, launched with a reader's user agent."""
    require_browser()
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--user-agent={READER}"]
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def arrived(monkeypatch) -> list[dict]:
    """Every beacon as the events API received it: raw body and headers."""
    seen: list[dict] = []
    post = CtaEventApi.post

    def recording(self, request):
        raw = request._request.body  # read first: Django keeps it for DRF's parser
        seen.append({"body": json.loads(raw or b"{}"), "raw": raw, **request.headers})
        return post(self, request)

    monkeypatch.setattr(CtaEventApi, "post", recording)
    return seen


def _counted(field: str) -> int:
    key = _counter_key(day=clinic_day(), event_type="form_abandon", slug=SLUG, field=field)
    return int(cache.get(key) or 0)


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _abandons(arrived: list[dict]) -> list[dict]:
    return [beacon for beacon in arrived if beacon["body"].get("type") == "form_abandon"]


def test_leaving_a_started_form_sends_the_last_field_name_and_no_value(
    open_page, live_server, demo_article, arrived
):
    page, _log = open_page()
    page.context.add_cookies(
        [{"name": "sessionid", "value": "a-staff-session", "url": live_server.url}]
    )
    page.goto(f"{live_server.url}{ARTICLE}")
    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Email", exact=True).fill(TYPED)

    page.goto(f"{live_server.url}/articles/")  # the reader walks away

    assert _wait_for(lambda: _counted("email") == 1)
    (beacon,) = _abandons(arrived)
    assert beacon["body"] == {"article": SLUG, "type": "form_abandon", "field": "email"}
    assert b"maria" not in beacon["raw"].lower()
    assert "Cookie" not in beacon and "cookie" not in beacon
    assert _counted("first_name") == 0


def test_a_sent_form_is_not_counted_as_left(open_page, live_server, demo_article, arrived):
    page, _log = open_page()
    page.goto(f"{live_server.url}{ARTICLE}")
    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Phone", exact=True).fill("(202) 555-0143")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/leads/")) as answer:
        page.get_by_role("button", name="Request a callback").click()
    assert answer.value.status == 201

    page.goto(f"{live_server.url}/articles/")
    page.get_by_role("heading").first.wait_for()
    time.sleep(0.5)  # a beacon on pagehide would have arrived by now

    assert [b["body"]["type"] for b in arrived if b["body"]["type"] == "form_start"]
    assert _abandons(arrived) == []
    assert _counted("phone") == 0
