"""Speed to lead, measured to a conversation: the figures (reads only).

For each lead whose first conversation (``Lead.first_conversation_at``, see
``scheduling.services.conversations``) falls in a period:

- **time to first conversation**: from the lead's first request (its first submission
  that is not spam: the one that opened its callback) to the first conversation;
- **system delay**: the part before a coordinator could act: until the callback was
  queued, and, for a request made while the clinic was closed, until the clinic
  opened (whichever is later; never past the conversation itself);
- **coordinator delay**: the rest.

Median and 90th percentile per clinic day, per coordinator, per article, or over the
whole period. On PostgreSQL everything is one query (``percentile_cont``), with the
clinic's opening intervals for the period passed in as two arrays; on SQLite (the
development default) the same figures are computed in Python from the same rows.
Nothing here names a person: a lead is only ever a row in an aggregate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from clinic import business_time
from intake import selectors as intake_selectors
from scheduling.models import Callback

GROUPS = ("all", "day", "coordinator", "article")
PARTS = ("total", "system", "coordinator")
# How far before a period a request may have come in and still have its wait for the
# clinic to open measured (older ones count from when their callback was queued).
OPENING_LOOKBACK = timedelta(days=30)


@dataclass(frozen=True)
class Quantiles:
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class SpeedRow:
    """One group's figures: ``key`` is the clinic day, the member of staff's id (None:
    not known), the article's id (None: no article), or "all"."""

    key: Any
    label: str
    conversations: int
    total: Quantiles
    system: Quantiles
    coordinator: Quantiles


def opening_intervals(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The clinic's opening intervals overlapping [start, end], in order; empty when no
    opening hours are configured (always open)."""
    if not business_time.has_opening_hours():
        return []
    out: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        found = False
        for opens_at, closes_at in business_time.open_intervals(cursor):
            if opens_at >= end:
                return out
            out.append((opens_at, closes_at))
            cursor = closes_at
            found = True
        if not found:
            break
    return out


_MEASURED_SQL = """
WITH opening(starts, ends) AS (
    SELECT * FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[])
),
firsts AS (
    SELECT l.id AS lead_id,
           l.first_conversation_at AS talked_at,
           l.first_conversation_by_id AS by_id,
           sub.created_at AS submitted_at,
           sub.article_id AS article_id,
           COALESCE(cb.created_at, sub.created_at) AS queued_at
    FROM intake_lead l
    JOIN LATERAL (
        SELECT s.created_at, s.article_id FROM intake_submission s
        WHERE s.lead_id = l.id AND NOT s.is_spam
        ORDER BY s.created_at, s.id LIMIT 1
    ) sub ON TRUE
    LEFT JOIN LATERAL (
        SELECT c.created_at FROM scheduling_callback c
        WHERE c.lead_id = l.id ORDER BY c.created_at, c.id LIMIT 1
    ) cb ON TRUE
    WHERE l.first_conversation_at >= %(since)s AND l.first_conversation_at < %(until)s
),
readied AS (
    SELECT f.*,
           LEAST(f.talked_at, GREATEST(f.queued_at, CASE
               WHEN f.submitted_at < %(window_start)s THEN f.submitted_at
               ELSE COALESCE((
                   SELECT GREATEST(o.starts, f.submitted_at) FROM opening o
                   WHERE o.ends > f.submitted_at ORDER BY o.starts LIMIT 1
               ), f.submitted_at) END)) AS ready_at
    FROM firsts f
),
measured AS (
    SELECT r.*,
           GREATEST(0, EXTRACT(EPOCH FROM r.talked_at - r.submitted_at)) AS total_s,
           GREATEST(0, EXTRACT(EPOCH FROM r.ready_at - r.submitted_at)) AS system_s,
           GREATEST(0, EXTRACT(EPOCH FROM r.talked_at - GREATEST(r.ready_at, r.submitted_at)))
               AS coordinator_s
    FROM readied r
)
SELECT {key} AS key,
       COUNT(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY total_s),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY total_s),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY system_s),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY system_s),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY coordinator_s),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY coordinator_s)
FROM measured
GROUP BY 1
ORDER BY 1
"""

_GROUP_SQL = {
    "all": "'all'",
    "day": "(talked_at AT TIME ZONE %(zone)s)::date",
    "coordinator": "by_id",
    "article": "article_id",
}


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _rows_postgresql(
    *, since: datetime, until: datetime, group: str, opening: list[tuple[datetime, datetime]]
) -> list[tuple]:
    params = {
        "since": since,
        "until": until,
        "window_start": since - OPENING_LOOKBACK,
        "starts": [start for start, _end in opening],
        "ends": [end for _start, end in opening],
        "zone": str(business_time.clinic_zone()),
    }
    with connection.cursor() as cursor:
        cursor.execute(_MEASURED_SQL.format(key=_GROUP_SQL[group]), params)
        return [
            (key, count, *(_float(value) for value in quantiles))
            for key, count, *quantiles in cursor.fetchall()
        ]


def percentile(values: list[float], share: float) -> float | None:
    """``percentile_cont``: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _rows_python(
    *, since: datetime, until: datetime, group: str, opening: list[tuple[datetime, datetime]]
) -> list[tuple]:
    """The same figures without PostgreSQL (the development default, SQLite)."""
    leads = intake_selectors.leads_first_spoken_to(since=since, until=until)
    ids = [pk for pk, _at, _by in leads]
    firsts = intake_selectors.leads_first_request(lead_ids=ids)
    queued: dict[int, datetime] = {}
    for lead_id, created_at in (
        Callback.objects.filter(lead_id__in=ids)
        .order_by("-created_at", "-pk")
        .values_list("lead_id", "created_at")
    ):
        queued[lead_id] = created_at
    window_start = since - OPENING_LOOKBACK
    zone = business_time.clinic_zone()
    buckets: dict[Any, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for lead_id, talked_at, by_id in leads:
        if lead_id not in firsts:
            continue
        submitted_at, article_id = firsts[lead_id]
        opened = submitted_at
        if submitted_at >= window_start:
            later = [(s, e) for s, e in opening if e > submitted_at]
            if later:
                opened = max(later[0][0], submitted_at)
        ready = min(talked_at, max(queued.get(lead_id, submitted_at), opened))
        key = {
            "all": "all",
            "day": timezone.localtime(talked_at, zone).date(),
            "coordinator": by_id,
            "article": article_id,
        }[group]
        bucket = buckets[key]
        bucket["total"].append(max(0.0, (talked_at - submitted_at).total_seconds()))
        bucket["system"].append(max(0.0, (ready - submitted_at).total_seconds()))
        bucket["coordinator"].append(
            max(0.0, (talked_at - max(ready, submitted_at)).total_seconds())
        )
    rows = []
    for key in sorted(buckets, key=lambda k: (k is None, str(k))):
        bucket = buckets[key]
        figures = []
        for part in PARTS:
            figures += [_float(percentile(bucket[part], share)) for share in (0.5, 0.9)]
        rows.append((key, len(bucket["total"]), *figures))
    return rows


def _labels(group: str, keys: Iterable[Any]) -> dict[Any, str]:
    keys = [key for key in keys if key is not None]
    if group == "coordinator":
        users = get_user_model().objects.in_bulk(keys)
        return {pk: (user.get_full_name() or user.get_username()) for pk, user in users.items()}
    if group == "article":
        return intake_selectors.article_titles(article_ids=keys)
    return {key: key.isoformat() if isinstance(key, date) else str(key) for key in keys}


def speed_to_conversation(
    *, since: datetime, until: datetime, group: str = "all"
) -> list[SpeedRow]:
    """Time to first conversation of the leads first spoken to in [since, until), per
    ``group`` (one of :data:`GROUPS`): median and p90 of the whole wait, the system's
    part and the coordinators' part, in seconds. Groups with no conversation are absent."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    opening = opening_intervals(since - OPENING_LOOKBACK, until)
    read = _rows_postgresql if connection.vendor == "postgresql" else _rows_python
    rows = read(since=since, until=until, group=group, opening=opening)
    labels = _labels(group, [row[0] for row in rows])
    unknown = {"coordinator": "(not known)", "article": "(no article)"}.get(group, "")
    return [
        SpeedRow(
            key=key,
            label=labels.get(key, unknown) if key is not None else unknown,
            conversations=count,
            total=Quantiles(t50, t90),
            system=Quantiles(s50, s90),
            coordinator=Quantiles(c50, c90),
        )
        for key, count, t50, t90, s50, s90, c50, c90 in rows
    ]


def speed_to_conversation_overall(*, since: datetime, until: datetime) -> SpeedRow | None:
    rows = speed_to_conversation(since=since, until=until, group="all")
    return rows[0] if rows else None


def leads_waiting_for_conversation() -> int:
    """Leads with a callback in the queue (open or claimed) and no conversation yet."""
    return (
        Callback.objects.filter(
            status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED],
            lead_id__in=intake_selectors.lead_ids_not_spoken_to(),
        )
        .values("lead_id")
        .distinct()
        .count()
    )


def speed_board(*, now: datetime | None = None) -> dict[str, Any]:
    """The board's section: today (clinic day) and the last 7 days, overall; the last 7
    days per day, per coordinator and per article; how many leads wait for a
    conversation."""
    now = now or timezone.now()
    zone = business_time.clinic_zone()
    today_start = timezone.localtime(now, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = today_start - timedelta(days=6)
    return {
        "today": speed_to_conversation_overall(since=today_start, until=now),
        "week": speed_to_conversation_overall(since=week_start, until=now),
        "days": speed_to_conversation(since=week_start, until=now, group="day"),
        "coordinators": speed_to_conversation(since=week_start, until=now, group="coordinator"),
        "articles": speed_to_conversation(since=week_start, until=now, group="article"),
        "waiting": leads_waiting_for_conversation(),
    }
