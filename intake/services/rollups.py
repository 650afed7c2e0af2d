"""Funnel rollups: aggregate counters kept up to date by intake's own write paths.

What a lead counts for is defined once, in ``lead_funnel_contributions``: a pure
function of the lead's stage time stamps and its submissions. The write paths
(``lead_submit``, ``lead_stage_advance``, ``submission_mark_processed``) take the
lead's contributions before the change, make it, and add the difference, in the
same transaction, with the lead row locked. So a stage reached twice counts once, a
replayed task adds nothing, and the nightly ``funnel_rollups_rebuild`` (the same
function over the raw rows) agrees with them.

The rules, in the clinic's words:

- Spam submissions count nowhere; a lead with only spam is no lead.
- Every stage is credited to a submission and to that submission's clinic day
  (cohorts: a lead admitted in March for an article read in January counts in January).
  *Last touch*: the latest submission made at or before the stage was reached (a new
  lead is reached at its first submission, and each submission is its own touch).
  *First touch*: the lead's first submission, with the campaign the embed remembered
  as its first touch (``first_touch``) if any, for everything the lead does.
- A stage is reached when its time stamp or any later stage's is set (a lead booked
  straight away was contacted), at the earliest of those times. The admissions steps
  (screened, insurance verified, waitlisted) are reached at their own time stamp only.
- Time to first contact, of contacted leads: the system's part is ``processed_at -
  created_at`` of the lead's first submission; the coordinators' part is from
  ``processed_at`` to contact; both counted with the contact (a lead reached before
  its hand-off was processed has no split).
  "Within target" compares contact with the end of the callback window promised to the
  lead at their first submission (scheduling's business-time clock answered it, and
  the submission keeps it), or, when none was stored, ``SPEED_TO_LEAD_MINUTES`` of
  wall-clock time.
- CTA events (article views, CTA views, form starts) are copied from
  ``ArticleDailyCount`` by ``funnel_event_counts_sync`` (every minute for today and
  yesterday, nightly for everything) into rows with attribution "".
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from intake.models import (
    CONTACT_TIME_EDGES,
    FUNNEL_EVENT_FIELDS,
    FUNNEL_LEAD_FIELDS,
    ROLLUP_COUNTERS,
    ROLLUP_IDENTITY,
    ArticleDailyCount,
    CtaEventType,
    FunnelRollup,
    Lead,
    Submission,
    cell_key_field,
    contact_time_field,
)
from intake.record_keys import record_key

logger = logging.getLogger(__name__)

Grain = FunnelRollup.Grain
Attribution = FunnelRollup.Attribution

# The funnel's stages after "lead", in order, with their time stamp on Lead.
FUNNEL_STAGES = (
    ("contacted", "contacted_at"),
    ("consult_booked", "consult_booked_at"),
    ("consult_attended", "consult_attended_at"),
    ("admitted", "admitted_at"),
)
# Admissions steps beside the funnel (``intake.services.stages``): each reached at its
# own time stamp only, as none implies another or follows a funnel stage.
ADMISSION_STEPS = (
    ("screened", "screened_at"),
    ("insurance_verified", "insurance_verified_at"),
    ("waitlisted", "waitlisted_at"),
)
_EVENT_FIELD = {
    CtaEventType.ARTICLE_VIEW: "article_views",
    CtaEventType.CTA_VIEW: "cta_views",
    CtaEventType.FORM_START: "form_starts",
}
_SUBMISSION_FIELDS = (
    "pk",
    "lead_id",
    "article_id",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "first_touch",
    "is_spam",
    "created_at",
    "processed_at",
    "callback_window",
)
_LEAD_FIELDS = ("pk", *(stamp for _stage, stamp in (*FUNNEL_STAGES, *ADMISSION_STEPS)))


@dataclass(frozen=True, order=True)
class RollupKey:
    """Where a count goes, before it is spread over day, week and month rows."""

    attribution: str
    day: date
    article_id: int | None
    source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str


Contributions = Counter[tuple[RollupKey, str]]


def clinic_date(moment: datetime) -> date:
    return timezone.localdate(moment, ZoneInfo(settings.CLINIC_TIME_ZONE))


def period_start(day: date, grain: str) -> date:
    if grain == Grain.WEEK:
        return day - timedelta(days=day.weekday())
    if grain == Grain.MONTH:
        return day.replace(day=1)
    return day


def contact_time_bucket(part: str, seconds: float) -> str:
    for edge in CONTACT_TIME_EDGES:
        if seconds <= edge:
            return contact_time_field(part, edge)
    return contact_time_field(part, None)


def _key(submission: Submission, attribution: str) -> RollupKey:
    utm = {
        "utm_source": submission.utm_source,
        "utm_medium": submission.utm_medium,
        "utm_campaign": submission.utm_campaign,
    }
    if attribution == Attribution.FIRST:
        remembered = submission.first_touch or {}
        if any(remembered.get(name) for name in utm):
            utm = {name: str(remembered.get(name) or "")[:200] for name in utm}
    return RollupKey(
        attribution=attribution,
        day=clinic_date(submission.created_at),
        article_id=submission.article_id,
        source=submission.source,
        **utm,
    )


def _due_at(submission: Submission) -> datetime:
    promised = (submission.callback_window or {}).get("ends_at")
    due = parse_datetime(promised) if isinstance(promised, str) else None
    if due is None:
        return submission.created_at + timedelta(minutes=settings.SPEED_TO_LEAD_MINUTES)
    return due


def stages_reached(lead: Lead) -> list[tuple[str, datetime]]:
    """(stage, when) for each funnel stage the lead reached, in funnel order, then each
    admissions step it reached."""
    stamps = [getattr(lead, stamp) for _stage, stamp in FUNNEL_STAGES]
    reached = []
    for index, (stage, _stamp) in enumerate(FUNNEL_STAGES):
        later = [moment for moment in stamps[index:] if moment is not None]
        if later:
            reached.append((stage, min(later)))
    for step, stamp in ADMISSION_STEPS:
        if getattr(lead, stamp) is not None:
            reached.append((step, getattr(lead, stamp)))
    return reached


def lead_funnel_contributions(lead: Lead, submissions: Iterable[Submission]) -> Contributions:
    """Every count the lead adds to the rollups (see the module's rules), and beside each
    count of people (``FUNNEL_LEAD_FIELDS``) its record key: the lead's, or for
    submissions the submission's."""
    touches = sorted(
        (submission for submission in submissions if not submission.is_spam),
        key=lambda submission: (submission.created_at, submission.pk),
    )
    out: Contributions = Counter()
    if not touches:
        return out
    first = touches[0]
    first_key = _key(first, Attribution.FIRST)

    lead_key = record_key("lead", lead.pk)

    def credit(last_touch: Submission, field: str, record: int | None = None) -> None:
        last_key = _key(last_touch, Attribution.LAST)
        out[(first_key, field)] += 1
        out[(last_key, field)] += 1
        if field in FUNNEL_LEAD_FIELDS:
            key_field = cell_key_field(field)
            out[(first_key, key_field)] += lead_key if record is None else record
            out[(last_key, key_field)] += lead_key if record is None else record

    def latest_touch(moment: datetime) -> Submission | None:
        found = None
        for touch in touches:
            if touch.created_at > moment:
                break
            found = touch
        return found

    for touch in touches:
        credit(touch, "submissions", record_key("submission", touch.pk))
    credit(first, "leads")
    for stage, moment in stages_reached(lead):
        touch = latest_touch(moment)
        if touch is None:
            continue  # reached before the lead's first real submission: not a funnel step
        credit(touch, stage)
        if stage == "contacted":
            if moment <= _due_at(first):
                credit(touch, "contacted_within_target")
            # Measured at contact, when the hand-off was done by then (it always is,
            # but for a lead reached before the workers ran): processing never moves
            # a count, so submission_mark_processed needs no hook and no lead lock.
            processed_at = first.processed_at
            if processed_at is not None and processed_at <= moment:
                system = max(0.0, (processed_at - first.created_at).total_seconds())
                credit(touch, contact_time_bucket("system", system))
                coordinators = (moment - processed_at).total_seconds()
                credit(touch, contact_time_bucket("coordinators", coordinators))
    return out


def _lead_state(lead_id: int) -> tuple[Lead | None, list[Submission]]:
    lead = Lead.objects.filter(pk=lead_id).only(*_LEAD_FIELDS).first()
    if lead is None:
        return None, []
    return lead, list(Submission.objects.filter(lead_id=lead_id).only(*_SUBMISSION_FIELDS))


def lead_funnel_snapshot(*, lead_id: int) -> Contributions:
    """The lead's contributions now: take it before a change, pass it to
    ``funnel_rollups_update`` after."""
    lead, submissions = _lead_state(lead_id)
    return lead_funnel_contributions(lead, submissions) if lead is not None else Counter()


def funnel_rollups_update(*, lead_id: int, before: Contributions) -> None:
    """Add the difference the change made to the lead's contributions. Call it in the
    change's transaction, with the lead row locked. A failure here is logged, rolled
    back to a savepoint and left to the nightly rebuild: it never loses the lead."""
    try:
        with transaction.atomic():
            after = lead_funnel_snapshot(lead_id=lead_id)
            delta: dict[RollupKey, dict[str, int]] = defaultdict(dict)
            for key_field in before.keys() | after.keys():
                change = after[key_field] - before[key_field]
                if change:
                    key, field = key_field
                    delta[key][field] = change
            _rollups_add(delta)
    except DatabaseError:
        logger.exception("Funnel rollups of lead %s not updated; the nightly rebuild will", lead_id)


# Lead rows come twice: by source and campaign, and once more for all of them (source
# ALL_SOURCES, no UTM), so a long range per article reads a few rows per month and day.
ALL_SOURCES = "*"


def _rollup_lookups(key: RollupKey) -> list[dict]:
    lookups = [_rollup_filter(grain, key) for grain in Grain.values]
    if key.attribution != Attribution.EVENTS:
        for grain in Grain.values:
            lookups.append(
                {
                    **_rollup_filter(grain, key),
                    "source": ALL_SOURCES,
                    "utm_source": "",
                    "utm_medium": "",
                    "utm_campaign": "",
                }
            )
    return lookups


def _rollup_filter(grain: str, key: RollupKey) -> dict:
    return {
        "grain": grain,
        "period_start": period_start(key.day, grain),
        "attribution": key.attribution,
        "article_id": key.article_id,
        "source": key.source,
        "utm_source": key.utm_source,
        "utm_medium": key.utm_medium,
        "utm_campaign": key.utm_campaign,
    }


def _rollup_add(key: RollupKey, changes: dict[str, int]) -> None:
    _rollups_add({key: changes})


def _rollups_add(delta: dict[RollupKey, dict[str, int]]) -> None:
    """Add the changes to their keys' day, week and month rows (upsert), one statement
    per row, in one global order of rows: concurrent writers share week and month rows,
    and taking their locks in the same order is what keeps them from deadlocking."""
    merged: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, changes in delta.items():
        for lookup in _rollup_lookups(key):
            for field, change in changes.items():
                merged[tuple(lookup.items())][field] += change
    ordered = []
    for items in sorted(
        merged, key=lambda items: [(n, "" if v is None else str(v)) for n, v in items]
    ):
        changes = {field: change for field, change in merged[items].items() if change}
        if changes:
            ordered.append((dict(items), changes))
    if connection.vendor == "postgresql":
        _rollups_upsert(ordered)
        return
    for lookup, changes in ordered:
        rows = FunnelRollup.objects.filter(**lookup)
        if rows.update(**{field: F(field) + change for field, change in changes.items()}):
            continue
        try:
            with transaction.atomic():
                FunnelRollup.objects.create(**lookup, **changes)
        except IntegrityError:  # created meanwhile
            rows.update(**{field: F(field) + change for field, change in changes.items()})


def _rollups_upsert(ordered: list[tuple[dict, dict[str, int]]]) -> None:
    """PostgreSQL: the same upserts as one INSERT ... ON CONFLICT DO UPDATE per unique
    index (rows with an article, rows without), in the same order, so the row locks
    are still taken in one global order. Two round trips instead of a dozen ORM
    statements per lead: this runs inside the public POST's transaction."""
    counters = [
        field.column
        for field in FunnelRollup._meta.concrete_fields
        if field.column not in ROLLUP_IDENTITY and not field.primary_key
    ]
    table = connection.ops.quote_name(FunnelRollup._meta.db_table)
    for with_article in (True, False):
        part = [row for row in ordered if (row[0]["article_id"] is not None) is with_article]
        if not part:
            continue
        keys = (
            ROLLUP_IDENTITY if with_article else [k for k in ROLLUP_IDENTITY if k != "article_id"]
        )
        changed = sorted({field for _lookup, changes in part for field in changes})
        columns = [*keys, *counters]
        values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(part))
        params = [
            value
            for lookup, changes in part
            for value in [*(lookup[k] for k in keys), *(changes.get(c, 0) for c in counters)]
        ]
        updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in changed)
        predicate = "article_id IS NOT NULL" if with_article else "article_id IS NULL"
        with connection.cursor() as cursor:
            cursor.execute(
                # Column names come from the model, values are parameters.
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT ({', '.join(keys)}) WHERE {predicate} DO UPDATE SET {updates}",
                params,
            )


def funnel_event_counts_sync(*, days: Iterable[date]) -> int:
    """Copy the CTA event counts of ``days`` from ``ArticleDailyCount`` into the rollups
    (day rows set, week and month rows moved by the difference). Idempotent. Returns
    how many (article, day) rows changed."""
    changed = 0
    for day in days:
        with transaction.atomic():
            wanted: dict[int, dict[str, int]] = defaultdict(
                lambda: dict.fromkeys(_EVENT_FIELD.values(), 0)
            )
            for article_id, event_type, count in ArticleDailyCount.objects.filter(
                day=day
            ).values_list("article_id", "type", "count"):
                if event_type in _EVENT_FIELD:
                    wanted[article_id][_EVENT_FIELD[event_type]] = count
            kept = {
                row["article_id"]: row
                for row in FunnelRollup.objects.select_for_update()
                .filter(grain=Grain.DAY, period_start=day, attribution=Attribution.EVENTS)
                .values("article_id", *FUNNEL_EVENT_FIELDS)
            }
            for article_id in wanted.keys() | kept.keys():
                now = wanted.get(article_id) or dict.fromkeys(FUNNEL_EVENT_FIELDS, 0)
                before = kept.get(article_id) or {}
                delta = {
                    field: now[field] - (before.get(field) or 0)
                    for field in FUNNEL_EVENT_FIELDS
                    if now[field] != (before.get(field) or 0)
                }
                if delta:
                    _rollup_add(
                        RollupKey(Attribution.EVENTS, day, article_id, "", "", "", ""), delta
                    )
                    changed += 1
    return changed


def funnel_rollup_totals(**filters: object) -> dict[str, int]:
    """Sums of every counter over the rows ``filters`` select (for checks and tests)."""
    sums = FunnelRollup.objects.filter(Q(**filters)).aggregate(
        **{field: Sum(field) for field in ROLLUP_COUNTERS}
    )
    return {field: value or 0 for field, value in sums.items()}


__all__ = [
    "ADMISSION_STEPS",
    "FUNNEL_LEAD_FIELDS",
    "FUNNEL_STAGES",
    "RollupKey",
    "funnel_event_counts_sync",
    "funnel_rollups_update",
    "lead_funnel_contributions",
    "lead_funnel_snapshot",
]
