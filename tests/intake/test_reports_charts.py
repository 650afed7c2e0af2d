"""The dashboard's charts as geometry (intake.report_charts): a suppressed count is a
mark, never a bar; the weekly trend reads with one week and with two years."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from intake.report_charts import MARK_SIZE, funnel_bars, nice_top, trend_bars


def _weeks(count: int, *, leads=12, contacted=8, admitted="<5") -> list[dict]:
    start = date(2024, 12, 2)
    rows = []
    for index in range(count):
        key = (start + timedelta(weeks=index)).isoformat()
        rows.append(
            {"key": key, "label": key, "leads": leads, "contacted": contacted, "admitted": admitted}
        )
    return rows


def test_a_suppressed_funnel_count_gets_no_bar():
    bars = funnel_bars(
        {"article_views": 900, "leads": 40, "admitted": "<5", "contacted": 0}, min_cell=5
    )
    admitted = next(bar for bar in bars if bar.label == "Admitted")
    leads = next(bar for bar in bars if bar.label == "Leads")

    assert admitted.suppressed and admitted.width == 0 and admitted.shown == "<5"
    assert leads.width > 0 and not leads.suppressed


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (480, 500)])
def test_the_y_axis_ends_on_a_round_number(value, top):
    assert nice_top(value) == top


def test_one_week_is_one_wide_labelled_bar_under_its_date():
    trend = trend_bars(_weeks(1))

    leads = trend.panels[0]
    (bar,) = leads.bars
    assert bar.labelled and 18 <= bar.width <= 64
    assert bar.height == pytest.approx(64 * 12 / 20)  # 12 on an axis to 20
    assert leads.top == 20
    assert [label for _x, label in trend.ticks] == ["2 Dec"]
    admitted = trend.panels[2].bars[0]
    assert admitted.suppressed and admitted.height == 0 and admitted.shown == "<5"
    assert trend.weeks == [{"period": "2024-12-02", "values": [12, 8, "<5"]}]


def test_two_years_fit_the_width_with_few_dated_ticks_that_do_not_overlap():
    trend = trend_bars(_weeks(104))

    bars = trend.panels[0].bars
    assert len(bars) == 104
    assert all(trend.left <= bar.x and bar.x + bar.width <= trend.right for bar in bars)
    assert all(bar.width >= 2 for bar in bars)  # thin, still drawn
    assert not any(bar.labelled for bar in bars)  # values via the table and titles
    xs = [x for x, _label in trend.ticks]
    assert 4 <= len(trend.ticks) <= 8
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 60  # room for "Dec 2024"
    assert trend.ticks[0][1] == "Dec 2024" and trend.ticks[-1][1].endswith("2026")
    assert len(trend.weeks) == 104


def test_a_week_without_leads_is_a_gap_in_the_axis_not_left_out():
    rows = _weeks(3)
    del rows[1]
    trend = trend_bars(rows)

    assert [week["period"] for week in trend.weeks] == ["2024-12-02", "2024-12-09", "2024-12-16"]
    assert trend.panels[0].bars[1].height == 0


def test_marks_are_smaller_than_a_full_panel():
    assert MARK_SIZE < 64
