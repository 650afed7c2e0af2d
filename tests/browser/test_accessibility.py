"""axe-core (vendored: tests/browser/vendor/axe.min.js, MPL-2.0) on the pages people
use most: no serious or critical violation on the article page (short form, at a
phone's and a laptop's width), the manage-request page, the console queue and the
marketing dashboard (at both widths, its column chooser open)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group

from intake.models import ArticleDailyCount
from intake.services.events import clinic_day
from scheduling import links
from tests.browser.conftest import SLUG
from tests.browser.test_console import sign_in
from tests.factories import ArticleFactory, UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def axe_page(browser, live_server):
    """A page whose Content-Security-Policy lets the test add axe's script tag; the
    clinic's own scripts run as they do for anyone. No request leaves the live server."""
    contexts = []

    def open_(width: int = 1366, height: int = 768):
        context = browser.new_context(bypass_csp=True, viewport={"width": width, "height": height})
        contexts.append(context)
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(live_server.url)
                else route.abort()
            ),
        )
        context.set_default_timeout(10_000)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.help + ' @ ' + v.nodes.map(n => n.target.join(' ')).join(', ')))"
    )
    return result


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_the_article_page_has_no_serious_violations(
    axe_page, live_server, demo_article, width, height
):
    page = axe_page(width, height)
    page.goto(f"{live_server.url}/articles/{SLUG}/")
    assert serious_violations(page) == []
    page.get_by_text("More options").click()  # the optional fields, too
    page.get_by_label("I need help right now").check()  # and the crisis box's help
    assert serious_violations(page) == []


def test_the_form_with_errors_has_no_serious_violations(axe_page, live_server, demo_article):
    page = axe_page(390, 844)
    page.goto(f"{live_server.url}/articles/{SLUG}/")
    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Phone", exact=True).fill("12345")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/leads/")):
        page.get_by_role("button", name="Request a callback").click()
    page.locator('#cta-phone[aria-invalid="true"]').wait_for()
    assert serious_violations(page) == []


def test_the_manage_request_page_has_no_serious_violations(axe_page, live_server):
    submission = submit_lead()
    url = links.request_manage_url(submission_id=submission.pk, email_hash=submission.email_hash)
    page = axe_page(390, 844)
    page.goto(live_server.url + urlsplit(url).path)
    assert page.get_by_role("heading", level=1).count() == 1
    assert serious_violations(page) == []


def test_the_console_queue_has_no_serious_violations(axe_page, live_server):
    coordinator = UserFactory(username="casey")
    coordinator.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    submit_lead(first_name="Jordan")
    page = axe_page()
    sign_in(page, live_server, coordinator)
    assert page.locator("table").count() >= 1
    assert serious_violations(page) == []


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_the_dashboard_has_no_serious_violations(axe_page, live_server, width, height):
    marketer = UserFactory(username="morgan")
    marketer.groups.add(Group.objects.get_or_create(name="marketing")[0])
    article = ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", topic="depression")
    for _ in range(6):
        submit_lead(article_slug="sleep-and-mood")
    submit_lead(article_slug="rare-article")
    for field, count in (("email", 6), ("message", 2)):  # the form-abandonment table
        ArticleDailyCount.objects.create(
            article=article, day=clinic_day(), type="form_abandon", field=field, count=count
        )
    page = axe_page(width, height)
    page.goto(f"{live_server.url}/reports/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/reports/")
    for summary in page.locator("details.chart-table summary").all():
        summary.click()
    assert page.locator('table[data-table="abandonment"] th[scope="col"]').count() == 3
    assert serious_violations(page) == []
    # The column chooser open, a column added: still none.
    page.locator("details.column-chooser summary").click()
    page.get_by_role("checkbox", name="Form starts").check()
    assert page.locator('table[data-table="report"] th[data-column="form_starts"]').is_visible()
    assert serious_violations(page) == []


def test_the_check_itself_finds_a_field_without_a_label(axe_page, live_server, demo_article):
    page = axe_page(390, 844)
    page.goto(f"{live_server.url}/articles/{SLUG}/")
    page.evaluate("document.querySelector('#cta form').append(document.createElement('input'))")
    assert any(violation.startswith("label:") for violation in serious_violations(page))
