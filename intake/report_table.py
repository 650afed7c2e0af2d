"""The report table's columns, as the dashboard shows them and the CSV exports them.

One list of columns, each with the label a person reads, so the page's headings and the
CSV's are the same words; which of them the page shows unless the marketer chose others
(the column chooser; the page remembers a choice in the browser); and how a report row
becomes the page's cells and the CSV's fields.

In the CSV a number column holds numbers only: a count that is not shown is an empty
field, and the column beside it, "<label> suppressed", says why ("fewer than 5", or
"withheld" for a larger count left out so that a small one in its column cannot be
worked out from the total). An empty count with no flag does not apply (CTA events by
campaign or source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from intake.report_disclosure import is_withheld, withheld_reason

GROUP_LABELS = {
    "article": "Article",
    "topic": "Topic",
    "utm_source": "Source (UTM)",
    "utm_medium": "Medium (UTM)",
    "utm_campaign": "Campaign (UTM)",
    "source": "Web form or call",
    "week": "Week",
    "month": "Month",
}


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    path: tuple[str, ...]  # where the value is in a report row
    kind: str  # "count", "rate" (a share, 0 to 1 or more) or "seconds"


def _count(name: str, label: str) -> Column:
    return Column(name, label, (name,), "count")


def _rate(name: str, label: str) -> Column:
    return Column(name, label, ("rates", name), "rate")


def _wait(part: str, figure: str, label: str) -> Column:
    return Column(
        f"first_contact_{part}_{figure}", label, ("first_contact", part, figure), "seconds"
    )


COLUMNS = (
    _count("article_views", "Article views"),
    _count("cta_views", "CTA views"),
    _count("form_starts", "Form starts"),
    _count("submissions", "Submissions"),
    _count("leads", "Leads"),
    _count("contacted", "Contacted"),
    _count("consult_booked", "Booked"),
    _count("consult_attended", "Attended"),
    _count("admitted", "Admitted"),
    _count("screened", "Screened"),
    _count("insurance_verified", "Insurance verified"),
    _count("waitlisted", "Waitlisted"),
    _rate("cta_view_rate", "CTA view rate"),
    _rate("form_start_rate", "Form start rate"),
    _rate("submission_rate", "Submission rate"),
    _rate("contact_rate", "Contact rate"),
    _rate("booking_rate", "Booking rate"),
    _rate("attendance_rate", "Attendance rate"),
    _rate("admission_rate", "Admission rate"),
    _rate("lead_to_patient_rate", "Lead \u2192 patient"),
    _wait("system", "median_seconds", "System wait, median"),
    _wait("system", "p90_seconds", "System wait, 90th pct."),
    _wait("coordinators", "median_seconds", "Callback wait, median"),
    _wait("coordinators", "p90_seconds", "Callback wait, 90th pct."),
    Column(
        "contacted_within_target_share", "Within target", ("contacted_within_target_share",), "rate"
    ),
    # Time to first conversation: grouped by article only (empty otherwise).
    Column(
        "first_conversations", "Conversations", ("first_conversation", "conversations"), "count"
    ),
    Column(
        "first_conversation_median_seconds",
        "First conversation, median",
        ("first_conversation", "median_seconds"),
        "seconds",
    ),
    Column(
        "first_conversation_p90_seconds",
        "First conversation, 90th pct.",
        ("first_conversation", "p90_seconds"),
        "seconds",
    ),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
# What a marketer reads first: the funnel's ends and what it turns into. Fits a laptop's
# width without scrolling; the chooser adds the rest.
DEFAULT_COLUMNS = (
    "article_views",
    "submissions",
    "leads",
    "contacted",
    "consult_booked",
    "admitted",
    "lead_to_patient_rate",
    "contacted_within_target_share",
)
NOT_SHOWN = "\u2013"  # an en dash: hidden or not measured


def chosen_columns(query: QueryDict) -> tuple[list[str], bool]:
    """The columns the page shows, in table order, and whether the query chose them
    (``?columns=chosen&col=...``, the chooser's form without JavaScript; unknown names
    are dropped) rather than leaving the default set."""
    choices = query.getlist("columns")
    if "chosen" not in choices or "default" in choices:
        return list(DEFAULT_COLUMNS), False
    wanted = set(query.getlist("col"))
    return [name for name in COLUMN_NAMES if name in wanted], True


def _dig(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = row
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return NOT_SHOWN
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _share(value: float | None) -> str:
    return NOT_SHOWN if value is None else f"{value:.0%}"


@dataclass(frozen=True)
class Cell:
    column: str
    shown: str
    sort: float
    suppressed: bool
    hidden: bool = False  # a column the marketer did not choose


def table_row(row: dict[str, Any], *, chosen: list[str]) -> dict[str, Any]:
    """The page's cells of a report row, one per column. Suppressed counts all sort
    alike, just above zero."""
    cells = []
    for column in COLUMNS:
        value = _dig(row, column.path)
        hidden = column.name not in chosen
        if is_withheld(value):
            cell = Cell(column.name, value, 0.5, True, hidden)
        elif column.kind == "seconds":
            cell = Cell(
                column.name, _duration(value), -1 if value is None else value, False, hidden
            )
        elif column.kind == "rate":
            cell = Cell(column.name, _share(value), -1 if value is None else value, False, hidden)
        elif value is None:
            cell = Cell(column.name, "n/a", -1, False, hidden)
        else:
            cell = Cell(column.name, str(value), value, False, hidden)
        cells.append(cell)
    return {"key": row.get("key", ""), "label": row["label"], "cells": cells}


def abandonment_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the form-abandonment table, in the cells of ``table_row``."""
    cells = [
        Cell(field, count, 0.5, True)
        if is_withheld(count)
        else Cell(field, str(count), count, False)
        for field, count in row["counts"].items()
    ]
    return {"key": row["key"], "label": row["label"], "cells": cells}


def csv_header(group: str) -> list[str]:
    """The CSV's headings: the page's labels, and beside each count its flag column."""
    header = ["Key", GROUP_LABELS.get(group, group)]
    for column in COLUMNS:
        if column.kind == "seconds":
            header.append(f"{column.label} (seconds)")
        else:
            header.append(column.label)
        if column.kind == "count":
            header.append(f"{column.label} suppressed")
    return header


def csv_fields(row: dict[str, Any], *, min_cell: int) -> list[Any]:
    """One CSV line's fields, in ``csv_header``'s order: numbers or empty fields."""
    fields: list[Any] = [row.get("key", ""), row.get("label", "")]
    for column in COLUMNS:
        value = _dig(row, column.path)
        if column.kind != "count":
            fields.append("" if value is None else value)
        elif is_withheld(value):
            fields.append("")
            fields.append(withheld_reason(value, min_cell=min_cell))
        else:
            fields.extend(["" if value is None else value, ""])
    return fields
