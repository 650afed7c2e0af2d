"""Server-rendered SVG charts of the conversion reports: no charting library, no
JavaScript, nothing fetched from anywhere. Geometry only; the template draws it.

A suppressed count ("<5") is never drawn at its value: the funnel draws it as a hatched
bar at the suppression threshold, the trend leaves a gap in the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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
TREND_SERIES = (("leads", "Leads"), ("contacted", "Contacted"), ("admitted", "Admitted"))


@dataclass(frozen=True)
class Bar:
    label: str
    shown: Any  # int, "<N>" or None
    y: int
    width: float
    suppressed: bool


def funnel_bars(row: dict[str, Any], *, min_cell: int, width: int = 520) -> list[Bar]:
    """Horizontal bars on a log scale (views dwarf admissions)."""
    values = [row.get(field) for field, _label in FUNNEL_STAGES]
    numbers = [value for value in values if isinstance(value, int)]
    top = math.log10(max([*numbers, min_cell, 1]) + 1)
    bars = []
    for index, ((_field, label), value) in enumerate(zip(FUNNEL_STAGES, values, strict=True)):
        suppressed = isinstance(value, str)
        amount = min_cell if suppressed else (value or 0)
        bars.append(
            Bar(
                label=label,
                shown="n/a" if value is None else value,
                y=index * 28,
                width=round(width * math.log10(amount + 1) / top, 1) if amount else 0,
                suppressed=suppressed,
            )
        )
    return bars


@dataclass(frozen=True)
class Series:
    name: str
    label: str
    paths: list[str]  # one polyline per unbroken run
    points: list[tuple[float, float, int, str]]  # x, y, value, period


def trend_series(
    rows: list[dict[str, Any]], *, width: int = 640, height: int = 220, pad: int = 30
) -> tuple[list[Series], list[tuple[float, str]], int]:
    """Lines per series over the periods in ``rows``; returns the series, the x-axis
    labels and the y maximum."""
    numbers = [
        row.get(name) for row in rows for name, _ in TREND_SERIES if isinstance(row.get(name), int)
    ]
    top = max([*numbers, 1])
    count = max(len(rows) - 1, 1)

    def x_at(index: int) -> float:
        return round(pad + (width - 2 * pad) * index / count, 1)

    def y_at(value: int) -> float:
        return round(height - pad - (height - 2 * pad) * value / top, 1)

    series = []
    for name, label in TREND_SERIES:
        runs: list[list[str]] = [[]]
        points = []
        for index, row in enumerate(rows):
            value = row.get(name)
            if isinstance(value, int):
                x, y = x_at(index), y_at(value)
                runs[-1].append(f"{x},{y}")
                points.append((x, y, value, row["key"]))
            elif runs[-1]:
                runs.append([])
        series.append(Series(name, label, [" ".join(run) for run in runs if len(run) > 1], points))
    step = max(1, len(rows) // 8)
    ticks = [(x_at(index), row["label"]) for index, row in enumerate(rows) if index % step == 0]
    return series, ticks, top
