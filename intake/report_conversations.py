"""Time to first conversation per article, for the marketing report (a selector module).

Read from intake's own rows only: the lead's first conversation
(``Lead.first_conversation_at``, which scheduling records through
``intake.services.conversations``) and its first request (its first submission that is
not spam, with that submission's article). A lead counts in the report's range by the
clinic day of that first request, and for that request's article whatever the
report's attribution (the clock starts at the first request). An article made up by a
submission (``needs_review``) is never a row of its own here: its people count in the
rows without an article.

These are raw figures (a count, the sum of the people's record keys, and the median
and 90th percentile in seconds); ``intake.reports`` suppresses them like every other
count of people before anyone sees them. No coordinator, no person, no single wait.
"""

# The one SQL statement interpolates only RECORD_KEY_BITS (a constant); values are bound.
# ruff: noqa: S608
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection

from clinic import business_time
from intake.models import Lead, Submission
from intake.record_keys import RECORD_KEY_BITS, record_key, record_key_salt


@dataclass(frozen=True)
class ConversationFigures:
    conversations: int
    key_sum: int  # the cell key of ``conversations`` (intake.reports)
    median_seconds: float | None
    p90_seconds: float | None


_SQL = f"""
WITH firsts AS (
    SELECT l.id AS lead_id,
           GREATEST(0, EXTRACT(EPOCH FROM l.first_conversation_at - sub.created_at)) AS seconds,
           CASE WHEN a.needs_review THEN NULL ELSE sub.article_id END AS article_id,
           sub.created_at AS submitted_at
    FROM intake_lead l
    JOIN LATERAL (
        SELECT s.created_at, s.article_id FROM intake_submission s
        WHERE s.lead_id = l.id AND NOT s.is_spam
        ORDER BY s.created_at, s.id LIMIT 1
    ) sub ON TRUE
    LEFT JOIN intake_article a ON a.id = sub.article_id
    WHERE l.first_conversation_at IS NOT NULL AND l.created_at >= %(since)s
)
SELECT GROUPING(article_id) = 1 AS is_total,
       article_id,
       COUNT(*),
       SUM(('x' || substr(md5(%(salt)s || ':lead:' || lead_id::text), 1, {RECORD_KEY_BITS // 4}))
           ::bit({RECORD_KEY_BITS})::bigint),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)
FROM firsts
WHERE submitted_at >= %(since)s AND submitted_at < %(until)s
  AND (%(article_id)s::bigint IS NULL OR article_id = %(article_id)s::bigint)
GROUP BY GROUPING SETS ((article_id), ())
"""
# The key of the figures over every article.
TOTAL = "total"


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    zone = business_time.clinic_zone()
    since = datetime.combine(date_from, time.min, tzinfo=zone)
    until = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    return since, until


def _percentile(values: list[float], share: float) -> float | None:
    """``percentile_cont``: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _python(
    since: datetime, until: datetime, article_id: int | None
) -> dict[int | str | None, ConversationFigures]:
    """The same figures without PostgreSQL (the development default)."""
    leads = dict(
        Lead.objects.filter(first_conversation_at__isnull=False, created_at__gte=since)
        .order_by()
        .values_list("pk", "first_conversation_at")
    )
    firsts: dict[int, tuple[datetime, int | None, bool]] = {}
    for lead_id, created_at, its_article, made_up in (
        Submission.objects.filter(lead_id__in=list(leads), is_spam=False)
        .order_by("-created_at", "-pk")
        .values_list("lead_id", "created_at", "article_id", "article__needs_review")
    ):
        firsts[lead_id] = (created_at, its_article, bool(made_up))
    waits: dict[int | str | None, list[float]] = defaultdict(list)
    keys: dict[int | str | None, int] = defaultdict(int)
    for lead_id, (submitted_at, first_article, made_up) in firsts.items():
        article = None if made_up else first_article
        if not since <= submitted_at < until or article_id not in (None, article):
            continue
        wait = max(0.0, (leads[lead_id] - submitted_at).total_seconds())
        for key in (article, TOTAL):
            waits[key].append(wait)
            keys[key] += record_key("lead", lead_id)
    return {
        article: ConversationFigures(
            len(values), keys[article], _percentile(values, 0.5), _percentile(values, 0.9)
        )
        for article, values in waits.items()
    }


def article_conversations(
    *, date_from: date, date_to: date, article_id: int | None = None
) -> dict[int | str | None, ConversationFigures]:
    """Per article id (None: no article, or one a submission made up), the leads whose
    first request fell on clinic days [date_from, date_to] and who have had their first
    conversation: how many, their cell key, and the median and p90 of the time from
    that request to the conversation; under :data:`TOTAL`, the same over every article
    (or over ``article_id`` alone, when given). Unsuppressed: for ``intake.reports``
    only."""
    since, until = _bounds(date_from, date_to)
    if connection.vendor != "postgresql":
        return _python(since, until, article_id)
    params = {
        "since": since,
        "until": until,
        "salt": record_key_salt(),
        "article_id": article_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SQL, params)
        rows = cursor.fetchall()
    return {
        TOTAL if is_total else article: ConversationFigures(
            int(count),
            int(key_sum or 0),
            None if median is None else float(median),
            None if p90 is None else float(p90),
        )
        for is_total, article, count, key_sum, median, p90 in rows
    }
