"""Clinic time: opening hours, closures, and the speed-to-lead clock.

All arithmetic happens in the clinic's time zone (``CLINIC_TIME_ZONE``) and
returns aware datetimes; the database keeps UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from scheduling.models import ClinicClosure, OpeningHours

# Looking further than this for an opening means the clinic has no hours at all.
SEARCH_DAYS = 60


def clinic_zone() -> ZoneInfo:
    return ZoneInfo(settings.CLINIC_TIME_ZONE)


def _weekly_hours() -> dict[int, list[tuple[time, time]]]:
    hours: dict[int, list[tuple[time, time]]] = {}
    for row in OpeningHours.objects.order_by("weekday", "opens_at"):
        hours.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
    return hours


def _closed_days(start: date, end: date) -> set[date]:
    return set(
        ClinicClosure.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True)
    )


def open_intervals(start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Opening intervals that end after ``start``, in order, clipped to begin no
    earlier than ``start``. With no opening hours configured the clinic is always open."""
    zone = clinic_zone()
    weekly = _weekly_hours()
    if not weekly:
        yield start, start + timedelta(days=SEARCH_DAYS)
        return
    local_start = start.astimezone(zone)
    first_day = local_start.date()
    closed = _closed_days(first_day, first_day + timedelta(days=SEARCH_DAYS))
    for offset in range(SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        if day in closed:
            continue
        for opens, closes in weekly.get(day.weekday(), []):
            # fold=0 and normalising through UTC keeps wall times honest across DST.
            opens_at = datetime.combine(day, opens, tzinfo=zone)
            closes_at = datetime.combine(day, closes, tzinfo=zone)
            if closes_at <= start:
                continue
            yield max(opens_at, start), closes_at


def business_add(start: datetime, duration: timedelta) -> datetime:
    """``start`` plus ``duration`` of open clinic time."""
    remaining = duration
    for opens_at, closes_at in open_intervals(start):
        available = closes_at - opens_at
        if remaining <= available:
            return opens_at + remaining
        remaining -= available
    return start + duration


def next_open(start: datetime) -> datetime:
    """The first open moment at or after ``start``."""
    for opens_at, _closes_at in open_intervals(start):
        return opens_at
    return start


def callback_due_at(*, submitted_at: datetime) -> datetime:
    """When a callback for a request made at ``submitted_at`` is due: the
    speed-to-lead target in open time, so after hours it is due shortly after opening."""
    return business_add(submitted_at, timedelta(minutes=settings.SPEED_TO_LEAD_MINUTES))


def callback_window(*, submitted_at: datetime) -> dict[str, datetime]:
    """What the public answer promises: from the next open moment to the due time."""
    return {
        "starts_at": next_open(submitted_at),
        "ends_at": callback_due_at(submitted_at=submitted_at),
    }


def callback_window_phrase(*, due_at: datetime, now: datetime, tz_name: str = "") -> str:
    """Plain words for when the call will come, in the lead's zone when known."""
    try:
        zone = ZoneInfo(tz_name) if tz_name else clinic_zone()
    except (KeyError, ValueError):
        zone = clinic_zone()
    if due_at - now <= timedelta(minutes=15):
        return "in the next few minutes"
    local_due = due_at.astimezone(zone)
    clock = local_due.strftime("%I:%M %p").lstrip("0")
    label = local_due.tzname() or ""
    if local_due.date() == now.astimezone(zone).date():
        return f"today by {clock} {label}".strip()
    if local_due.date() == now.astimezone(zone).date() + timedelta(days=1):
        return f"tomorrow by {clock} {label}".strip()
    return f"on {local_due.strftime('%A')} by {clock} {label}".strip()
