"""Quiet hours: no follow-up text before 08:00 or after 21:00 where the person is.

Where the person is comes from the time zone their browser gave, else from their
phone number; a number that spans several zones (a US toll-free number, say)
is held until it is within hours in every one of them (the most restrictive).

Which texts wait at all is :func:`quiet_hours_apply`: a confirmation of what the
person just did goes at once, and so does a reply to a text they sent within the hour;
every other text to a person waits.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezones

from notifications.conversations import conversation_last_inbound_at
from notifications.models import Message

# Answers to something the person just did (their request, a member of staff's code):
# these go at once.
ALWAYS_AT_ONCE = frozenset({Message.Purpose.CONFIRMATION, Message.Purpose.STAFF_CODE})
# A reply goes at once only while the person's own last text is this recent: they are
# awake and waiting for it; later, it waits for their daytime like any other text.
REPLY_WINDOW = timedelta(hours=1)


def reply_answers_recent_text(*, last_text_at: datetime | None, now: datetime) -> bool:
    """A reply sent ``now`` answers the person's own text of ``last_text_at`` within
    :data:`REPLY_WINDOW` (exactly an hour counts)."""
    return last_text_at is not None and timedelta(0) <= now - last_text_at <= REPLY_WINDOW


def quiet_hours_apply(*, purpose: str, phone: str, now: datetime) -> bool:
    """Whether a text of ``purpose`` to ``phone`` must keep to the person's quiet
    hours: every text does, but a confirmation, a staff code, and a reply within
    :data:`REPLY_WINDOW` of the person's own last text from ``phone``."""
    if purpose in ALWAYS_AT_ONCE:
        return False
    if purpose == Message.Purpose.REPLY:
        return not reply_answers_recent_text(
            last_text_at=conversation_last_inbound_at(phone=phone), now=now
        )
    return True


def recipient_time_zones(*, phone: str, declared: str = "") -> list[ZoneInfo]:
    """The zones the person may be in: the declared one if valid, else the number's."""
    if declared:
        try:
            return [ZoneInfo(declared)]
        except (KeyError, ValueError):
            pass
    names: tuple[str, ...] = ()
    with contextlib.suppress(phonenumbers.NumberParseException):
        names = phone_timezones.time_zones_for_number(phonenumbers.parse(phone))
    zones = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except (KeyError, ValueError):
            continue
    return zones or [ZoneInfo(settings.CLINIC_TIME_ZONE)]


def _allowed(moment: datetime, zone: ZoneInfo, start: time, end: time) -> bool:
    local = moment.astimezone(zone).time()
    return start <= local < end


def _next_starts(moment: datetime, zone: ZoneInfo, start: time, days: int = 3) -> list[datetime]:
    local_day = moment.astimezone(zone).date()
    starts = []
    for offset in range(days):
        candidate = datetime.combine(local_day + timedelta(days=offset), start, tzinfo=zone)
        if candidate >= moment:
            starts.append(candidate)
    return starts


def quiet_hours_release(*, now: datetime, zones: list[ZoneInfo]) -> datetime | None:
    """None if a text may go now; otherwise the first moment it may go.

    The moment is within hours in every zone when such a moment exists in the
    next days; when the zones are too far apart for that, within hours in the
    first zone (the declared one, or the number's main zone)."""
    # Texts may go from the end of quiet hours (08:00) to their start (21:00).
    opens = time.fromisoformat(settings.QUIET_HOURS_END)
    closes = time.fromisoformat(settings.QUIET_HOURS_START)
    if all(_allowed(now, zone, opens, closes) for zone in zones):
        return None
    candidates = sorted({moment for zone in zones for moment in _next_starts(now, zone, opens)})
    for candidate in candidates:
        if all(_allowed(candidate, zone, opens, closes) for zone in zones):
            return candidate
    for candidate in _next_starts(now, zones[0], opens):
        return candidate
    return now + timedelta(hours=12)
