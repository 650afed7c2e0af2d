"""Marketing's dashboard in Chromium: the charts are drawn, with data, the funnel adds
up, the by-article table shows a chosen set of columns (remembered, keyboard-operable,
a default set without JavaScript), and the page holds no personal data."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from intake.models import ArticleDailyCount, Lead
from intake.services import funnel_event_counts_sync, lead_stage_advance
from intake.services.events import clinic_day
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
        for _ in range(8)
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
    assert bars.count() == 12  # the nine stages, then the three admissions steps
    assert funnel.locator("g.step rect.bar").count() == 3
    values = dict(
        zip(
            [label.text_content() for label in funnel.locator("text[text-anchor='end']").all()],
            [bar.get_attribute("data-value") for bar in bars.all()],
            strict=True,
        )
    )
    # Eight people, perturbed by at most REPORT_NOISE (2), so shown as a number; the same
    # people (all contacted) give the same number in every bar and chart.
    leads = values["Leads"]
    assert 6 <= int(leads) <= 10 and values["Contacted"] == leads
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

    # The CSV has the report table's columns (shown or not), in the same order, under
    # the page's headings; beside each count, its flag column.
    headings = page.locator('table[data-table="report"] thead th').evaluate_all(
        "ths => ths.map(th => th.textContent.trim())"
    )
    csv_url = page.get_by_role("link", name="Download CSV").get_attribute("href")
    csv_text = page.evaluate("url => fetch(url).then(r => r.text())", csv_url)
    csv_header = next(csv.reader(io.StringIO(csv_text)))
    numbers = [h.removesuffix(" (seconds)") for h in csv_header if not h.endswith(" suppressed")]
    assert numbers == ["Key", *headings]
    # The nine funnel counts and the three admissions steps, then the conversations
    # count (issue 23: time to first conversation per article), each with its flag.
    assert [h for h in csv_header if h.endswith(" suppressed")] == [
        *(f"{heading} suppressed" for heading in headings[1:13]),
        "Conversations suppressed",
    ]

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


# The by-article table's default columns (intake.report_table.DEFAULT_COLUMNS).
DEFAULT_HEADINGS = [
    "Article views",
    "Submissions",
    "Leads",
    "Contacted",
    "Booked",
    "Admitted",
    "Lead \u2192 patient",
    "Within target",
]


def _report_data() -> None:
    """Three articles: one read by many, one whose page counted a single visit for its
    seven requests (as a tester sends them), one with two leads."""
    articles = {
        "anxiety-at-work": ArticleFactory(slug="anxiety-at-work", title="Anxiety at work"),
        "sleep-and-mood": ArticleFactory(slug="sleep-and-mood", title="Sleep and mood"),
    }
    ArticleFactory(slug="rare-article", title="A rare article")
    stages = [Lead.Stage.CONSULT_ATTENDED] * 5 + [Lead.Stage.CONSULT_BOOKED] * 2
    stages += [Lead.Stage.CONTACTED] * 4 + [None] * 3
    for stage in stages:
        submission = submit_lead(article_slug="anxiety-at-work")
        if stage:
            lead_stage_advance(lead_id=submission.lead_id, stage=stage)
    for index in range(7):
        submission = submit_lead(article_slug="sleep-and-mood")
        if index < 6:
            lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
    for _ in range(2):
        submit_lead(article_slug="rare-article")
    views = {"anxiety-at-work": (420, 160, 38), "sleep-and-mood": (1, 1, 1)}
    for slug, counts in views.items():
        for type_, count in zip(("article_view", "cta_view", "form_start"), counts, strict=True):
            ArticleDailyCount.objects.create(
                article=articles[slug], day=clinic_day(), type=type_, count=count
            )
    funnel_event_counts_sync(days=[clinic_day()])


def _sign_in(page, live_server, user, path: str = "/reports/") -> None:
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}{path}")


def _shown_headings(page) -> list[str]:
    return page.locator('table[data-table="report"] thead th').evaluate_all(
        "ths => ths.filter(th => getComputedStyle(th).display !== 'none')"
        ".map(th => th.innerText.trim())"
    )


def _funnel_levels(page) -> list[float]:
    # The funnel's stages (the admissions steps below it are not links of it).
    values = page.locator('svg[data-chart="funnel"] g:not(.step) [data-value]').evaluate_all(
        "marks => marks.map(mark => mark.dataset.value)"
    )
    return [0.5 if value.startswith("<") else float(value) for value in values]


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_the_table_shows_a_default_set_of_columns_and_remembers_the_marketers_choice(
    open_page, live_server, marketer, width, height
):
    _report_data()
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": width, "height": height})
    _sign_in(page, live_server, marketer)
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"dashboard-{width}.png", full_page=True)

    assert _shown_headings(page) == ["Article", *DEFAULT_HEADINGS]
    # The funnel adds up: no stage above the one before it.
    levels = _funnel_levels(page)
    assert len(levels) == 9 and levels == sorted(levels, reverse=True)
    # Nothing scrolls the page sideways; at a laptop's width the default table fits.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wrap = page.locator('table[data-table="report"]').locator("xpath=..")
    if width >= 1366:
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")

    # Chosen with the keyboard alone: open the chooser, tick a column, untick another.
    chooser = page.locator("details.column-chooser")
    chooser.locator("summary").focus()
    page.keyboard.press("Enter")
    assert chooser.evaluate("el => el.open")
    page.get_by_role("checkbox", name="Form starts").focus()
    page.keyboard.press("Space")
    page.get_by_role("checkbox", name="Article views").focus()
    page.keyboard.press("Space")
    chosen = ["Form starts", *DEFAULT_HEADINGS[1:]]
    assert _shown_headings(page) == ["Article", *chosen]
    assert "8 of 28" in chooser.locator("summary").inner_text()
    # Every row keeps one cell per shown heading.
    cells = page.locator('table[data-table="report"] tbody tr').first.locator("th, td")
    shown_cells = cells.evaluate_all(
        "cs => cs.filter(c => getComputedStyle(c).display !== 'none').length"
    )
    assert shown_cells == len(chosen) + 1

    # The page remembers the choice.
    page.reload()
    assert _shown_headings(page) == ["Article", *chosen]
    box = 'details.column-chooser input[value="{}"]'
    assert page.locator(box.format("form_starts")).is_checked(), "the boxes say so too"
    assert not page.locator(box.format("article_views")).is_checked()

    # And forgets it on "Default columns".
    page.locator("details.column-chooser summary").click()
    page.get_by_role("button", name="Default columns").click()
    assert _shown_headings(page) == ["Article", *DEFAULT_HEADINGS]
    page.reload()
    assert _shown_headings(page) == ["Article", *DEFAULT_HEADINGS]
    assert log.foreign() == []


def test_without_javascript_the_table_shows_the_default_columns_and_can_still_choose(
    open_page, live_server, marketer
):
    _report_data()
    page, _log = open_page(js=False)
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, live_server, marketer)

    assert _shown_headings(page) == ["Article", *DEFAULT_HEADINGS]
    page.locator("details.column-chooser summary").click()
    page.get_by_role("checkbox", name="Callback wait, median").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**col=first_contact_coordinators_median_seconds**")
    assert "Callback wait, median" in _shown_headings(page)
    # The filters keep the choice.
    page.get_by_label("Attribution").select_option("last")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**attribution=last**")
    assert "Callback wait, median" in _shown_headings(page)
