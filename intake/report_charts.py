"""Server-rendered SVG charts of the conversion reports: no charting library, no
JavaScript, nothing fetched from anywhere. Geometry only; the template draws it.

A suppressed count ("<5") is never drawn at a value: it is a small hatched mark of
fixed size with "<5" beside it, in the funnel and in the trend alike, so it cannot
read as "many" (or as any amount at all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from intake.report_disclosure import is_withheld

FUNNEL_STAGES = (
    ("article_views", "Article views"),
    ("cta_views", "CTA views"),
    ("form_starts", "Form starts"),
    ("submissions", "Submissions"),
    ("leads", "Leads"),
    ("contacted", "Contacted"),
    ("consult_booked", "Consultation booked"),
    ("consult_attended", "Attended"),
    ("admitted", "Admitted"),
)
# Admissions steps, drawn below the funnel after a gap: beside it, not in its order.
ADMISSION_STEP_BARS = (
    ("screened", "Screened"),
    ("insurance_verified", "Insurance verified"),
    ("waitlisted", "Waitlisted"),
)
STEP_GAP = 16  # SVG units between the funnel's last bar and the first step's
BAR_STEP = 28
TREND_SERIES = (("leads", "Leads"), ("contacted", "Contacted"), ("admitted", "Admitted"))
MARK_SIZE = 14  # the hatched "<5" mark, in SVG units


@dataclass(frozen=True)
class Bar:
    label: str
    shown: Any  # int, "<N>" or None
    y: int
    width: float
    suppressed: bool
    step: bool = False  # an admissions step, below the funnel


def funnel_height(bars: list[Bar]) -> int:
    """The funnel chart's height in SVG units: room for every bar."""
    return (bars[-1].y + BAR_STEP) if bars else BAR_STEP


def funnel_bars(row: dict[str, Any], *, min_cell: int, width: int = 520) -> list[Bar]:
    """Horizontal bars on a log scale (views dwarf admissions), the funnel's stages
    then, after a gap, the admissions steps; a suppressed count gets no bar (width 0)
    and is drawn as a mark."""
    stages = (*FUNNEL_STAGES, *ADMISSION_STEP_BARS)
    values = [row.get(field) for field, _label in stages]
    numbers = [value for value in values if isinstance(value, int)]
    top = math.log10(max([*numbers, min_cell, 1]) + 1)
    bars = []
    for index, ((_field, label), value) in enumerate(zip(stages, values, strict=True)):
        suppressed = is_withheld(value)
        amount = 0 if suppressed else (value or 0)
        step = index >= len(FUNNEL_STAGES)
        bars.append(
            Bar(
                label=label,
                shown="n/a" if value is None else value,
                y=index * BAR_STEP + (STEP_GAP if step else 0),
                width=round(width * math.log10(amount + 1) / top, 1) if amount else 0,
                suppressed=suppressed,
                step=step,
            )
        )
    return bars


def nice_top(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above ``value`` (at least 1): the y axis's top."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover


@dataclass(frozen=True)
class TrendBar:
    x: float
    y: float
    width: float
    height: float
    shown: Any  # int or "<N>"
    period: str
    suppressed: bool
    labelled: bool  # wide enough to print its value on the bar


@dataclass
class TrendPanel:
    name: str
    label: str
    top: int
    y0: float  # the panel's baseline
    y_top: float  # where ``top`` is
    bars: list[TrendBar] = field(default_factory=list)


@dataclass
class Trend:
    width: int
    height: int
    left: float
    right: float
    panels: list[TrendPanel]
    ticks: list[tuple[float, str]]  # x, label
    weeks: list[dict[str, Any]]  # the text table: period and one value per series
    mark_size: int = MARK_SIZE


def _week_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Every week from the first to the last row's, so a gap shows as a gap."""
    keys = [row["key"] for row in rows]
    try:
        days = sorted(date.fromisoformat(key) for key in keys)
    except (TypeError, ValueError):
        return keys
    if not days:
        return []
    weeks, day = [], days[0]
    while day <= days[-1] and len(weeks) < 200:
        weeks.append(day.isoformat())
        day += timedelta(days=7)
    return weeks


def _tick_label(key: str, *, long_range: bool) -> str:
    try:
        day = date.fromisoformat(key)
    except ValueError:
        return key
    return day.strftime("%b %Y") if long_range else day.strftime("%-d %b")


def trend_bars(
    rows: list[dict[str, Any]],
    *,
    width: int = 720,
    panel_height: int = 64,
    left: int = 96,
    right: int = 16,
) -> Trend:
    """One bar chart per series (leads, contacted, admitted) stacked over a shared week
    axis: each has its own y axis from 0 to a round top, values printed on bars wide
    enough to hold them, suppressed weeks as marks. One week gives one wide bar; two
    years give about 104 thin ones under at most eight dated ticks."""
    by_key = {row["key"]: row for row in rows}
    keys = _week_keys(rows)
    count = max(len(keys), 1)
    plot = width - left - right
    slot = plot / count
    bar_width = round(min(slot * 0.8, 64), 1)
    gap = 22  # room for the panel's title and top value
    panels = []
    for index, (name, label) in enumerate(TREND_SERIES):
        numbers = [
            by_key[k].get(name) for k in keys if isinstance(by_key.get(k, {}).get(name), int)
        ]
        top = nice_top(max([*numbers, 1]))
        y_top = gap + index * (panel_height + gap)
        y0 = y_top + panel_height
        panel = TrendPanel(name=name, label=label, top=top, y0=y0, y_top=y_top)
        for position, key in enumerate(keys):
            value = by_key.get(key, {}).get(name, 0)
            x = round(left + slot * position + (slot - bar_width) / 2, 1)
            suppressed = is_withheld(value)
            amount = 0 if suppressed or value is None else value
            height = round(panel_height * amount / top, 1)
            panel.bars.append(
                TrendBar(
                    x=x,
                    y=round(y0 - height, 1),
                    width=bar_width,
                    height=height,
                    shown=value if value is not None else 0,
                    period=key,
                    suppressed=suppressed,
                    labelled=bar_width >= 18,
                )
            )
        panels.append(panel)
    height = gap + len(TREND_SERIES) * (panel_height + gap) + 8
    long_range = len(keys) > 30
    step = max(1, math.ceil(len(keys) / 8))
    ticks = [
        (round(left + slot * position + slot / 2, 1), _tick_label(key, long_range=long_range))
        for position, key in enumerate(keys)
        if position % step == 0
    ]
    weeks = [
        {
            "period": key,
            "values": [by_key.get(key, {}).get(name, 0) for name, _label in TREND_SERIES],
        }
        for key in keys
    ]
    return Trend(
        width=width,
        height=height,
        left=left,
        right=width - right,
        panels=panels,
        ticks=ticks,
        weeks=weeks,
    )
