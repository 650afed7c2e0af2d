"""Marketing's dashboard in Chromium: the charts are drawn, with data, and the page
holds no personal data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from intake.models import Lead
from intake.services import lead_stage_advance
from tests.factories import ArticleFactory, UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


@pytest.fixture
def marketer():
    user = UserFactory(username="morgan")
    user.groups.add(Group.objects.get_or_create(name="marketing")[0])
    return user


def test_marketing_sees_the_funnel_and_trend_drawn_with_data_and_no_one(
    open_page, live_server, marketer
):
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", topic="depression")
    people = [
        submit_lead(
            article_slug="sleep-and-mood",
            first_name="Jordana",
            message="Please call after work",
        )
        for _ in range(6)
    ]
    for submission in people:
        lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": 1366, "height": 900})

    page.goto(f"{live_server.url}/reports/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/reports/")

    funnel = page.locator('svg[data-chart="funnel"]')
    assert funnel.is_visible()
    bars = funnel.locator("rect.bar")
    assert bars.count() == 9
    values = dict(
        zip(
            [label.text_content() for label in funnel.locator("text[text-anchor='end']").all()],
            [bar.get_attribute("data-value") for bar in bars.all()],
            strict=True,
        )
    )
    # Six people, perturbed by at most REPORT_NOISE (2) and never below 5; the same
    # people (all contacted) give the same number in every bar and chart.
    leads = values["Leads"]
    assert 5 <= int(leads) <= 8 and values["Contacted"] == leads
    leads_bar = funnel.locator(f'rect.bar[data-value="{leads}"]').first.bounding_box()
    assert leads_bar is not None and leads_bar["width"] > 50  # drawn, not just present

    trend = page.locator('svg[data-chart="trend"]')
    bars = trend.locator('g[data-series="leads"] rect.bar')
    assert bars.count() == 1  # one week of data: one bar, labelled with its value
    assert bars.first.get_attribute("data-value") == leads
    assert bars.first.bounding_box()["height"] > 20
    assert trend.locator('g[data-series="leads"] text.value').first.text_content() == leads
    assert trend.locator("line.axis").count() == 6  # x and y axis of each of three panels

    # The table sorts by a column when its heading is clicked.
    page.get_by_role("button", name="Leads", exact=True).click()
    assert page.locator("th[aria-sort]").count() == 1
    assert page.get_by_role("row", name="Sleep and mood").is_visible()

    html = page.content()
    for secret in [
        "Jordana",
        "Please call after work",
        *(str(s.phone) for s in people),
        *(s.email for s in people),
        *(s.reference for s in people),
    ]:
        assert secret not in html
    assert log.foreign() == []


def test_every_dashboard_table_has_headers_that_stick_and_small_counts_are_marks(
    open_page, live_server, marketer
):
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", topic="depression")
    ArticleFactory(slug="rare-article", title="A rare article", topic="sleep")
    for _ in range(6):
        submit_lead(article_slug="sleep-and-mood")
    for _ in range(2):
        submit_lead(article_slug="rare-article")  # two leads: shown as "<5"
    page, _log = open_page(allowed=())
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/reports/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/reports/")
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "dashboard-1366.png", full_page=True)
    for summary in page.locator("details.chart-table summary").all():
        summary.click()

    tables = page.locator("table").all()
    assert len(tables) == 3  # funnel, trend, and the report table
    for table in tables:
        headers = table.locator("thead th")
        assert headers.count() >= 2
        cells = table.locator("tbody tr").first.locator("th, td").count()
        assert headers.count() == cells  # one heading per column
        for header in headers.all():
            assert header.inner_text().strip(), "a heading without a name"
            assert header.evaluate("th => getComputedStyle(th).position") == "sticky"
            # Readable: not drawn in the colour of its background.
            colour, background = header.evaluate(
                "th => [getComputedStyle(th.querySelector('button') || th).color,"
                " getComputedStyle(th).backgroundColor]"
            )
            assert colour != background and colour != "rgb(255, 255, 255)"

    # The report table's columns are the CSV's, in the same order.
    columns = page.locator('table[data-table="report"] thead th').evaluate_all(
        "ths => ths.map(th => th.dataset.column)"
    )
    csv_url = page.get_by_role("link", name="Download CSV").get_attribute("href")
    csv_header = page.evaluate(
        "url => fetch(url).then(r => r.text()).then(t => t.split(/\\r?\\n/)[0])", csv_url
    )
    assert ["key", *columns] == csv_header.split(",")

    # A suppressed count is a hatched mark, never a bar drawn to any length.
    rare = page.get_by_role("row", name="A rare article")
    assert rare.locator("td.suppressed").first.inner_text().endswith("<5")
    funnel = page.locator('svg[data-chart="funnel"]')
    assert funnel.locator("rect.bar.suppressed").count() == 0

    # The header row stays on screen while the table scrolls under it.
    wrap = page.locator('table[data-table="report"]').locator("xpath=..")
    header = page.locator('table[data-table="report"] thead th').first
    wrap.evaluate(
        "el => { el.style.maxHeight = el.querySelector('thead').offsetHeight + 24 + 'px'; }"
    )
    first_row = page.get_by_role("row", name="A rare article")
    top = wrap.bounding_box()["y"]
    row_before = first_row.bounding_box()["y"]
    wrap.evaluate("el => { el.scrollTop = 1000; }")
    top = wrap.bounding_box()["y"]
    assert first_row.bounding_box()["y"] - top < row_before - top  # the body did scroll
    assert abs(header.bounding_box()["y"] - top) < 2, (header.bounding_box(), top)
