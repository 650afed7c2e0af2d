"""Clinic time: opening hours, closures, and the speed-to-lead clock.

All arithmetic happens in the clinic's time zone (``CLINIC_TIME_ZONE``) and
returns aware datetimes; the database keeps UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings

from clinic.models import ClinicClosure, OpeningHours

# Looking further than this for an opening means the clinic has no hours at all.
SEARCH_DAYS = 60


def clinic_zone() -> ZoneInfo:
    return ZoneInfo(settings.CLINIC_TIME_ZONE)


# Opening hours and closures change a few times a year but are read on every
# request: each process keeps them for a short while.
CACHE_SECONDS = 30.0
_memo: dict[str, tuple[float, Any]] = {}


def _remembered(name: str, load: Callable[[], Any]) -> Any:
    now = monotonic()
    hit = _memo.get(name)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = load()
    _memo[name] = (now, value)
    return value


def forget() -> None:
    """Drop what this process remembers (after an admin edit, and in tests)."""
    _memo.clear()


def _weekly_hours() -> dict[int, list[tuple[time, time]]]:
    def load() -> dict[int, list[tuple[time, time]]]:
        hours: dict[int, list[tuple[time, time]]] = {}
        for row in OpeningHours.objects.order_by("weekday", "opens_at"):
            hours.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
        return hours

    return _remembered("weekly-hours", load)


@lru_cache(maxsize=32)
def _public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def closed_days(start: date, end: date) -> set[date]:
    """Public holidays (``holidays`` library, the clinic's country and subdivision)
    and ad-hoc closures entered in admin."""
    closures = _remembered(
        "closures",
        lambda: frozenset(ClinicClosure.objects.values_list("day", flat=True)),
    )
    closed = {day for day in closures if start <= day <= end}
    if settings.CLINIC_HOLIDAYS_COUNTRY:
        for year in range(start.year, end.year + 1):
            public = _public_holidays(
                settings.CLINIC_HOLIDAYS_COUNTRY, settings.CLINIC_HOLIDAYS_SUBDIVISION, year
            )
            closed |= {day for day in public if start <= day <= end}
    return closed


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
    closed = closed_days(first_day, first_day + timedelta(days=SEARCH_DAYS))
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


# The parts of the day a person may ask to be called in, in their own time zone.
BEST_TIME_WINDOWS = {
    "morning": (time(8, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(17, 0)),
    "evening": (time(17, 0), time(21, 0)),
}


def person_zone(tz_name: str) -> ZoneInfo:
    """The person's time zone when they gave a valid one, else the clinic's."""
    try:
        return ZoneInfo(tz_name) if tz_name else clinic_zone()
    except (KeyError, ValueError):
        return clinic_zone()


def _in_window(start: datetime, best_time: str, tz_name: str) -> datetime | None:
    """The first moment at or after ``start`` that is both open and in the person's
    ``best_time`` window (their zone); None if there is none in the coming weeks."""
    window = BEST_TIME_WINDOWS[best_time]
    zone = person_zone(tz_name)
    for opens_at, closes_at in open_intervals(start):
        local_day = opens_at.astimezone(zone).date()
        for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1)):
            wanted_from = datetime.combine(day, window[0], tzinfo=zone)
            wanted_to = datetime.combine(day, window[1], tzinfo=zone)
            begins, ends = max(opens_at, wanted_from), min(closes_at, wanted_to)
            if begins < ends:
                return begins
    return None


def callback_due_at(
    *, submitted_at: datetime, best_time: str = "anytime", tz_name: str = ""
) -> datetime:
    """When a callback for a request made at ``submitted_at`` is due: the
    speed-to-lead target in open time (after hours: shortly after opening), moved to
    the person's ``best_time`` window in their own time zone when they gave one and
    the clinic is open then."""
    due = business_add(submitted_at, timedelta(minutes=settings.SPEED_TO_LEAD_MINUTES))
    if best_time in BEST_TIME_WINDOWS:
        return _in_window(due, best_time, tz_name) or due
    return due


def crisis_due_at(*, submitted_at: datetime) -> datetime:
    """A crisis request is due the moment it was made, whether or not the clinic is
    open: the on-call supervisor is alerted at once and the queue puts it first."""
    return submitted_at


def callback_window(
    *, submitted_at: datetime, best_time: str = "anytime", tz_name: str = ""
) -> dict[str, datetime]:
    """What the public answer promises: from the next open moment (in the person's
    window) to the due time."""
    due = callback_due_at(submitted_at=submitted_at, best_time=best_time, tz_name=tz_name)
    starts = next_open(submitted_at)
    if best_time in BEST_TIME_WINDOWS:
        starts = _in_window(submitted_at, best_time, tz_name) or starts
    return {"starts_at": min(starts, due), "ends_at": due}


def callback_window_phrase(*, due_at: datetime, now: datetime, tz_name: str = "") -> str:
    """Plain words for when the call will come, in the lead's zone when known. While
    the clinic is closed they say when it opens: "tomorrow after we open at 8:00 AM
    EST", or, when the call comes later that day (the person's best time), "tomorrow
    by 5:05 PM EST; we open tomorrow at 8:00 AM EST"."""
    zone = person_zone(tz_name)
    opens_at = next_open(now)
    if opens_at > now:
        local_open = opens_at.astimezone(zone)
        opening = f"{_clock(local_open)} {local_open.tzname() or ''}".strip()
        if due_at - opens_at <= timedelta(hours=1):
            return f"{_day_words(local_open, now, zone)} after we open at {opening}"
        due = _due_words(due_at=due_at, now=now, zone=zone)
        return f"{due}; we open {_day_words(local_open, now, zone)} at {opening}"
    if due_at - now <= timedelta(minutes=15):
        return "in the next few minutes"
    return _due_words(due_at=due_at, now=now, zone=zone)


def next_try_phrase(*, at: datetime, now: datetime, tz_name: str = "") -> str:
    """Plain words for when the clinic will try a person again, in their zone when
    known: "today at about 2:30 PM EST", "tomorrow at about 10:05 AM EST", "on Monday
    at about 9:00 AM EST". A time, not "soon": the person can plan to be free."""
    zone = person_zone(tz_name)
    local = at.astimezone(zone)
    clock = f"{_clock(local)} {local.tzname() or ''}".strip()
    return f"{_day_words(local, now, zone)} at about {clock}"


def _clock(local: datetime) -> str:
    return local.strftime("%I:%M %p").lstrip("0")


def _due_words(*, due_at: datetime, now: datetime, zone: ZoneInfo) -> str:
    local_due = due_at.astimezone(zone)
    clock = f"{_clock(local_due)} {local_due.tzname() or ''}".strip()
    return f"{_day_words(local_due, now, zone)} by {clock}"


def _day_words(local: datetime, now: datetime, zone: ZoneInfo) -> str:
    today = now.astimezone(zone).date()
    if local.date() == today:
        return "today"
    if local.date() == today + timedelta(days=1):
        return "tomorrow"
    return f"on {local.strftime('%A')}"


def next_business_morning(moment: datetime) -> datetime:
    """The first opening of the clinic on a later day than ``moment`` (clinic time)."""
    local_day = moment.astimezone(clinic_zone()).date()
    tomorrow = datetime.combine(local_day + timedelta(days=1), time(0, 0), tzinfo=clinic_zone())
    return next_open(tomorrow)


def has_opening_hours() -> bool:
    """Opening hours are configured (without any, the clinic is always open)."""
    return bool(_weekly_hours())
