"""Every funnel a report shows adds up (intake.report_funnel): no stage shows more than
the stage before it, in any row or total, whatever the noise, the suppression or the
truth, and where the truth is nested the shown counts stay within the noise of it."""

from __future__ import annotations

import html
import itertools
import re
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from intake.models import FUNNEL_EVENT_FIELDS, Article, ArticleDailyCount, Lead, cell_key_field
from intake.report_charts import FUNNEL_STAGES
from intake.report_disclosure import HIDDEN, NESTED_RATES, RATES, complementary_hidden, shown_row
from intake.report_funnel import FUNNEL_ORDER, funnel_level, funnel_monotone
from intake.services import funnel_event_counts_sync, lead_stage_advance
from intake.services.events import clinic_day
from tests.factories import ArticleFactory, submit_lead
from tests.signin import verified_login

URL = "/api/v1/reports/articles/"

PEOPLE = FUNNEL_ORDER[3:]  # submissions to admitted
KEYS = st.integers(min_value=0, max_value=2**40)


def _assert_monotone(row: dict[str, Any], where: str) -> None:
    levels = [(stage, funnel_level(row[stage])) for stage in FUNNEL_ORDER]
    known = [(stage, level) for stage, level in levels if level is not None]
    for (upper, above), (lower, below) in itertools.pairwise(known):
        assert above >= below, f"{where}: {upper}={row[upper]!r} < {lower}={row[lower]!r}"


def _assert_rates_follow_the_shown_counts(row: dict[str, Any]) -> None:
    for name, top, bottom in RATES:
        value = row["rates"][name]
        if not isinstance(row[top], int) or not isinstance(row[bottom], int) or not row[bottom]:
            assert value is None, (name, row[top], row[bottom])
        elif value is not None:
            assert value == round(row[top] / row[bottom], 4)
            if name in NESTED_RATES:
                assert value <= 1


@st.composite
def funnels(draw, *, nested: bool) -> dict[str, int]:
    """One cell's true counts and key sums: any counts at all, or (``nested``) people
    stages that never grow down the funnel."""
    sums: dict[str, int] = {}
    for field in FUNNEL_EVENT_FIELDS:
        sums[field] = draw(st.integers(min_value=0, max_value=40))
    ceiling = 40
    for field in PEOPLE:
        count = draw(st.integers(min_value=0, max_value=ceiling))
        if nested:
            ceiling = count
        sums[field] = count
        sums[cell_key_field(field)] = draw(KEYS)
    sums["contacted_within_target"] = draw(st.integers(min_value=0, max_value=sums["contacted"]))
    sums[cell_key_field("contacted_within_target")] = draw(KEYS)
    return sums


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(funnels(nested=False), min_size=1, max_size=5),
    threshold=st.integers(min_value=1, max_value=10),
    spread=st.integers(min_value=0, max_value=3),
    with_events=st.booleans(),
)
def test_no_stage_shows_more_than_the_stage_before_it_in_any_row_or_total(
    rows, threshold, spread, with_events
):
    total: dict[str, int] = {}
    for sums in rows:
        for field, count in sums.items():
            total[field] = total.get(field, 0) + count
    with override_settings(REPORT_MIN_CELL=threshold, REPORT_NOISE=spread):
        hidden = complementary_hidden(rows, total)
        shown = [
            shown_row(sums, with_events=with_events, hidden=row_hidden)
            for sums, row_hidden in zip(rows, hidden, strict=True)
        ]
        shown_total = shown_row(total, with_events=with_events)

    for index, row in enumerate([*shown, shown_total]):
        _assert_monotone(row, f"row {index}")
        _assert_rates_follow_the_shown_counts(row)
        for stage in FUNNEL_ORDER:
            value = row[stage]
            # Still a published count: 0, "<N", "hidden", None or a number of N or more.
            assert value in (0, None, HIDDEN, f"<{threshold}") or value >= threshold


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    sums=funnels(nested=True),
    threshold=st.integers(min_value=1, max_value=10),
    spread=st.integers(min_value=0, max_value=3),
)
def test_a_nested_funnel_is_shown_within_the_noise_of_the_truth(sums, threshold, spread):
    with override_settings(REPORT_MIN_CELL=threshold, REPORT_NOISE=spread):
        row = shown_row(sums, with_events=True)

    for stage in PEOPLE:
        value, truth = row[stage], sums[stage]
        if truth == 0:
            assert value == 0  # zero stays zero: nothing below it to raise it
        elif isinstance(value, int):
            assert truth - spread <= value <= truth + spread
        else:
            assert value == f"<{threshold}" and truth - spread < threshold


def test_a_stage_below_a_smaller_one_raises_it_and_suppressed_counts_sort_between():
    shown, raised = funnel_monotone(
        {
            "article_views": "<5",
            "cta_views": 0,
            "form_starts": "hidden",
            "submissions": 6,
            "leads": 9,
            "contacted": "<5",
            "consult_booked": 0,
            "consult_attended": "<5",
            "admitted": 0,
        }
    )

    assert shown == {
        "article_views": 9,
        "cta_views": 9,
        "form_starts": "hidden",  # withheld: left as it is, skipped over
        "submissions": 9,
        "leads": 9,
        "contacted": "<5",
        "consult_booked": "<5",
        "consult_attended": "<5",
        "admitted": 0,
    }
    assert raised == {"article_views", "cta_views", "submissions", "consult_booked"}


@pytest.mark.parametrize("spread", [0, 2])
def test_rates_from_a_beacon_count_raised_to_the_next_stage_are_left_out(settings, spread):
    settings.REPORT_MIN_CELL = 5
    settings.REPORT_NOISE = spread
    # Seven requests from one page view (as a tester sends them): one view counted.
    sums = {"article_views": 1, "cta_views": 1, "form_starts": 1}
    for field in PEOPLE[:2]:
        sums[field] = 7
        sums[cell_key_field(field)] = 2**19  # a cell key in the middle: no noise
    sums["contacted"] = 0

    row = shown_row(sums, with_events=True)

    assert row["article_views"] == row["cta_views"] == row["form_starts"] == row["submissions"]
    assert row["submissions"] >= row["leads"] >= 5
    assert row["rates"]["cta_view_rate"] is None
    assert row["rates"]["form_start_rate"] is None
    assert row["rates"]["submission_rate"] is None
    assert row["rates"]["contact_rate"] == 0.0


def _page_funnel(page: str) -> dict[str, Any]:
    """The dashboard's funnel table: stage label -> shown value."""
    table = page[page.index('data-table="funnel"') :]
    table = table[: table.index("</table>")]
    cells = re.findall(r'<th scope="row">([^<]+)</th><td[^>]*>([^<]+)</td>', table)
    return {
        label: int(value) if value.isdigit() else html.unescape(value) for label, value in cells
    }


@pytest.mark.django_db
@pytest.mark.parametrize("attribution", ["first", "last"])
def test_the_api_and_the_page_show_a_monotone_funnel_where_the_truth_is_not(
    api_client, client, marketer, settings, attribution
):
    settings.REPORT_NOISE = 2
    settings.REPORT_MIN_CELL = 5
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood")
    ArticleFactory(slug="second-read", title="Second read")
    # Seven requests from one page view (one view, one CTA view, one form start)...
    people = [submit_lead(article_slug="sleep-and-mood") for _ in range(7)]
    for type_ in ("article_view", "cta_view", "form_start"):
        ArticleDailyCount.objects.create(
            article=Article.objects.get(slug="sleep-and-mood"),
            day=clinic_day(),
            type=type_,
            count=1,
        )
    funnel_event_counts_sync(days=[clinic_day()])
    # ...and six came back through another article before they were reached: under last
    # touch that article has their contacts and bookings but none of them as leads.
    for submission in people[:6]:
        submit_lead(article_slug="second-read", phone=submission.phone, email=submission.email)
        lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONSULT_BOOKED)
    api_client.force_authenticate(marketer)
    verified_login(client, marketer)

    body = api_client.get(URL, {"attribution": attribution}).json()
    page = client.get("/reports/", {"attribution": attribution}).content.decode()

    for row in [*body["rows"], body["total"]]:
        _assert_monotone(row, row["label"])
        _assert_rates_follow_the_shown_counts(row)
    funnel = _page_funnel(page)
    assert [funnel[label] for _field, label in FUNNEL_STAGES] == [
        body["total"][field] for field, _label in FUNNEL_STAGES
    ]
    # The beacons counted one view for seven requests: the views show at least the
    # requests, and no rate is taken from that estimate.
    sleep = next(row for row in body["rows"] if row["key"] == "sleep-and-mood")
    assert sleep["article_views"] == sleep["submissions"] != "<5"
    assert sleep["rates"]["submission_rate"] is None
    if attribution == "last":
        second = next(row for row in body["rows"] if row["key"] == "second-read")
        assert second["contacted"] == second["consult_booked"] != 0  # kept, not erased
        assert second["leads"] == second["contacted"]  # raised to it
