"""Headless Chromium (Debian's package) driven by Playwright, against pytest-django's
live server. Playwright never downloads a browser here: it launches /usr/bin/chromium."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from intake.services import article_import_text

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO = Path(settings.BASE_DIR) / "intake" / "demo" / "science-behind-antidepressants.txt"
SLUG = "science-behind-antidepressants"


def require_browser() -> None:
    """Skip loudly without Playwright or Chromium; under CI a skip is a failure."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed")
    if not Path(CHROMIUM).is_file():
        problems.append(
            f"Debian's chromium is not installed (no {CHROMIUM}; apt-get install chromium)"
        )
    if problems:
        reason = "BROWSER TESTS NOT RUN: " + "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(reason)
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    require_browser()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running on this thread, and Django
    # then refuses ORM calls from it. Nothing here is async code, so say so, for
    # this module's tests only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class RequestLog:
    """Every request a page makes. Requests leaving for any origin but the allowed
    ones are recorded and aborted, so a test never reaches the network."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.requests: list = []

    def foreign(self) -> list[str]:
        return [
            request.url for request in self.requests if _origin(request.url) not in self.allowed
        ]

    def to(self, path: str) -> list:
        return [request for request in self.requests if urlsplit(request.url).path == path]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
def open_page(browser, live_server) -> Iterator:
    """``open_page(js=True, allowed=())`` gives a fresh page and its RequestLog. The
    browser zone is fixed (America/Chicago) so the test knows what cta.js sends."""
    contexts = []

    def open_(*, js: bool = True, allowed: tuple[str, ...] = ()):
        context = browser.new_context(java_script_enabled=js, timezone_id="America/Chicago")
        contexts.append(context)
        log = RequestLog({live_server.url, *allowed})

        def guard(route):
            if _origin(route.request.url) in log.allowed:
                route.continue_()
            else:
                route.abort()

        context.route("**/*", guard)
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on("request", lambda request: log.requests.append(request))
        return page, log

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def demo_article(transactional_db):
    return article_import_text(slug=SLUG, text=DEMO.read_text(encoding="utf-8"))
