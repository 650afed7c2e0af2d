"""The nightly reconciliation (``funnel_rollups_rebuild``): every rollup row recomputed
from the raw rows. On PostgreSQL by set-based SQL (window functions and GROUP BY), the
same rules as ``intake.services.rollups.lead_funnel_contributions`` applies lead by
lead; elsewhere by that function itself, lead by lead (at the end of this module).

Why SQL: the lead-by-lead rebuild reads every lead and submission into Python and
took 176 s at 100 k leads; the statements here let PostgreSQL sort and aggregate in one
pass over each table. Why PostgreSQL only: a clinic day is a date in the clinic's time
zone, and SQLite has no time zone database (nor ``date_trunc`` or ``jsonb``), so the
development default keeps the Python rebuild, which the property test holds equal.

How, in one transaction: the fresh rows go into a temporary table (day rows from the
credits, then week, month and all-sources rows summed from the day rows, then the CTA
event rows) and are compared with the kept rows (the drift); the rows that differ are
replaced by one DELETE and one INSERT ... SELECT, so a night without drift writes
nothing to the rollups. Readers see the old rows or the new ones.
"""

# The statements are assembled from model field names and constants of this module,
# never from input; the only values (record key salt, time zone, minutes) are parameters.
# ruff: noqa: S608

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterator

from django.conf import settings
from django.db import connection, transaction

from intake.models import (
    CONTACT_TIME_EDGES,
    CONTACT_TIME_FIELDS,
    CONTACT_TIME_PARTS,
    FUNNEL_EVENT_FIELDS,
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
from intake.record_keys import RECORD_KEY_BITS, record_key_salt
from intake.services.rollups import (
    _EVENT_FIELD,
    _LEAD_FIELDS,
    _SUBMISSION_FIELDS,
    Attribution,
    Contributions,
    Grain,
    _rollup_lookups,
    lead_funnel_contributions,
    period_start,
)

logger = logging.getLogger(__name__)

FRESH = "funnel_rollup_fresh"
CHANGED = "funnel_rollup_changed"
_KEY = ("day", "article_id", "source", "utm_source", "utm_medium", "utm_campaign")
_STAGES = (
    "contacted",
    "consult_booked",
    "consult_attended",
    "admitted",
    # The admissions steps: each at its own time stamp (rollups.ADMISSION_STEPS).
    "screened",
    "insurance_verified",
    "waitlisted",
)
_UTM = ("utm_source", "utm_medium", "utm_campaign")
_EVENT_TYPES = {
    "article_views": CtaEventType.ARTICLE_VIEW,
    "cta_views": CtaEventType.CTA_VIEW,
    "form_starts": CtaEventType.FORM_START,
}
# Sorting five million submissions by lead wants more than the default 4 MB; LOCAL
# to the rebuild's transaction, so nothing else runs with it.
WORK_MEM = "256MB"


def _bucket(part: str, seconds: str) -> str:
    """SQL naming the contact-time histogram field of ``seconds`` (lowest edge it fits)."""
    arms = " ".join(
        f"WHEN {seconds} <= {edge} THEN '{contact_time_field(part, edge)}'"
        for edge in CONTACT_TIME_EDGES
    )
    return f"CASE {arms} ELSE '{contact_time_field(part, None)}' END"


def _first_touch_utm(name: str) -> str:
    # The embed's remembered campaign wins when it names any of the three (the
    # serializer stores only non-empty strings), cut to the column's 200 characters.
    remembered = " OR ".join(f"coalesce(s.first_touch ->> '{n}', '') <> ''" for n in _UTM)
    return (
        f"CASE WHEN {remembered} THEN left(coalesce(s.first_touch ->> '{name}', ''), 200) "
        f"ELSE s.{name} END"
    )


# The callback window's promised end, when it is a time stamp (parse_datetime's
# shapes); otherwise the wall-clock target after the submission.
_DUE = (
    "CASE WHEN s.callback_window ->> 'ends_at' ~ "
    r"'^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$' "
    "THEN (s.callback_window ->> 'ends_at')::timestamptz "
    "ELSE s.created_at + %(target_minutes)s * interval '1 minute' END"
)


def _record_key(kind: str, pk: str) -> str:
    """SQL of ``intake.record_keys.record_key``: the same md5, the same bits."""
    return (
        f"('x' || substr(md5(%(salt)s || ':{kind}:' || {pk}::text), 1, {RECORD_KEY_BITS // 4}))"
        f"::bit({RECORD_KEY_BITS})::bigint"
    )


def _day_rows_sql() -> str:
    """CREATE the fresh table with the day rows of every lead counter."""
    first_key = ", ".join(f"first_value({c}) OVER lead_touches AS first_{c}" for c in _KEY)
    last_cols = ", ".join(_KEY)
    first_cols = ", ".join(f"first_{c}" for c in _KEY)
    pick = ", ".join(f"CASE WHEN a.first THEN r.first_{c} ELSE r.{c} END" for c in _KEY)
    stage_counts = ", ".join(
        f"count(*) FILTER (WHERE stage = '{s}') AS {s}, "
        f"coalesce(sum(lead_key) FILTER (WHERE stage = '{s}'), 0)::bigint AS {cell_key_field(s)}"
        for s in _STAGES
    )
    time_counts = ", ".join(
        f"count(*) FILTER (WHERE {part}_field = '{field}') AS {field}"
        for part in CONTACT_TIME_PARTS
        for field in CONTACT_TIME_FIELDS
        if field.startswith(f"{part}_")
    )
    system = _bucket(
        "system",
        "greatest(0, extract(epoch FROM r.first_processed_at - r.first_created_at))",
    )
    coordinators = _bucket("coordinators", "extract(epoch FROM r.moment - r.first_processed_at)")
    return f"""
    CREATE TEMPORARY TABLE {FRESH} AS
    WITH submission AS (
        SELECT s.id, s.lead_id, s.created_at, s.processed_at,
               (s.created_at AT TIME ZONE %(clinic_time_zone)s)::date AS day,
               s.article_id, s.source,
               s.utm_source AS last_utm_source, s.utm_medium AS last_utm_medium,
               s.utm_campaign AS last_utm_campaign,
               {_first_touch_utm("utm_source")} AS utm_source,
               {_first_touch_utm("utm_medium")} AS utm_medium,
               {_first_touch_utm("utm_campaign")} AS utm_campaign,
               {_DUE} AS due,
               {_record_key("lead", "s.lead_id")} AS lead_key,
               {_record_key("submission", "s.id")} AS submission_key
        FROM intake_submission s
        WHERE NOT s.is_spam
    ), touch AS (
        -- Each real submission, in the lead's order, with the next one's time (it is the
        -- last touch of every moment before that) and the lead's first touch.
        SELECT id, lead_id, created_at,
               row_number() OVER lead_touches AS n,
               count(*) OVER (PARTITION BY lead_id) AS touches,
               lead(created_at) OVER lead_touches AS next_at,
               lead_key, submission_key,
               sum(submission_key) OVER (PARTITION BY lead_id) AS submission_keys,
               day, article_id, source,
               last_utm_source AS utm_source, last_utm_medium AS utm_medium,
               last_utm_campaign AS utm_campaign,
               {first_key},
               first_value(created_at) OVER lead_touches AS first_created_at,
               first_value(processed_at) OVER lead_touches AS first_processed_at,
               first_value(due) OVER lead_touches AS first_due
        FROM submission
        WINDOW lead_touches AS (PARTITION BY lead_id ORDER BY created_at, id)
    ), stage AS (
        -- A stage is reached at the earliest of its own and every later stage's stamp.
        SELECT l.id AS lead_id, x.stage, x.moment
        FROM intake_lead l
        CROSS JOIN LATERAL (VALUES
            ('contacted', least(l.contacted_at, l.consult_booked_at, l.consult_attended_at,
                                l.admitted_at)),
            ('consult_booked', least(l.consult_booked_at, l.consult_attended_at,
                                     l.admitted_at)),
            ('consult_attended', least(l.consult_attended_at, l.admitted_at)),
            ('admitted', l.admitted_at),
            ('screened', l.screened_at),
            ('insurance_verified', l.insurance_verified_at),
            ('waitlisted', l.waitlisted_at)
        ) AS x (stage, moment)
        WHERE x.moment IS NOT NULL
    ), reached AS (
        -- Credited to the latest touch at or before it; none before the first touch.
        SELECT st.stage, st.moment, t.*
        FROM stage st
        JOIN touch t ON t.lead_id = st.lead_id AND t.created_at <= st.moment
                    AND (t.next_at IS NULL OR t.next_at > st.moment)
    ), credit AS (
        SELECT {last_cols}, 1 AS submissions, submission_key,
               (n = 1)::int AS leads, lead_key,
               NULL::text AS stage, 0 AS within_target,
               NULL::text AS system_field, NULL::text AS coordinators_field,
               'last' AS attribution
        FROM touch
        UNION ALL
        SELECT {first_cols}, touches, submission_keys, 1, lead_key, NULL, 0, NULL, NULL,
               'first'
        FROM touch WHERE n = 1
        UNION ALL
        SELECT {pick}, 0, 0, 0, r.lead_key, r.stage,
               (r.stage = 'contacted' AND r.moment <= r.first_due)::int,
               CASE WHEN r.stage = 'contacted' AND r.first_processed_at <= r.moment
                    THEN {system} END,
               CASE WHEN r.stage = 'contacted' AND r.first_processed_at <= r.moment
                    THEN {coordinators} END,
               CASE WHEN a.first THEN 'first' ELSE 'last' END
        FROM reached r CROSS JOIN (VALUES (true), (false)) AS a (first)
    )
    SELECT 'day'::varchar(5) AS grain, day AS period_start,
           attribution::varchar(5) AS attribution, article_id,
           source::varchar(10) AS source, utm_source::varchar(200) AS utm_source,
           utm_medium::varchar(200) AS utm_medium, utm_campaign::varchar(200) AS utm_campaign,
           {", ".join(f"0 AS {f}" for f in FUNNEL_EVENT_FIELDS)},
           sum(submissions)::int AS submissions,
           sum(submission_key)::bigint AS submissions_key,
           sum(leads)::int AS leads,
           sum(lead_key * leads)::bigint AS leads_key,
           {stage_counts}, sum(within_target)::int AS contacted_within_target,
           sum(lead_key * within_target)::bigint AS contacted_within_target_key,
           {time_counts}
    FROM credit
    GROUP BY attribution, {last_cols}
    """


def _sum_rows_sql(grain: str, *, all_sources: bool) -> str:
    """INSERT the ``grain`` rows summed from the fresh day rows of lead counters (or, with
    ``all_sources``, one row per article and period for every source and campaign)."""
    key = "'*', '', '', ''" if all_sources else "source, utm_source, utm_medium, utm_campaign"
    group = "" if all_sources else ", source, utm_source, utm_medium, utm_campaign"
    counters = ", ".join(ROLLUP_COUNTERS)
    sums = ", ".join(f"sum({f})" for f in ROLLUP_COUNTERS)
    return f"""
    INSERT INTO {FRESH} ({", ".join(ROLLUP_IDENTITY)}, {counters})
    SELECT '{grain}', date_trunc('{grain}', period_start)::date, attribution, article_id,
           {key}, {sums}
    FROM {FRESH}
    WHERE grain = 'day' AND attribution <> '' AND source <> '*'
    GROUP BY 2, attribution, article_id{group}
    """


def _event_rows_sql() -> str:
    """INSERT the CTA event rows (attribution "") of every grain from ArticleDailyCount."""
    sums = ", ".join(
        f"coalesce(sum(count) FILTER (WHERE type = '{event_type}'), 0)"
        for event_type in _EVENT_TYPES.values()
    )
    others = ", ".join(f for f in ROLLUP_COUNTERS if f not in FUNNEL_EVENT_FIELDS)
    zeros = ", ".join("0" for f in ROLLUP_COUNTERS if f not in FUNNEL_EVENT_FIELDS)
    period = {"day": "day", "week": "date_trunc('week', day)::date"}
    period["month"] = "date_trunc('month', day)::date"
    types = ", ".join(f"'{t}'" for t in _EVENT_TYPES.values())
    selects = " UNION ALL ".join(
        f"""SELECT '{grain}', {expression}, '', article_id, '', '', '', '',
                   {sums}, {zeros}
            FROM intake_articledailycount
            WHERE count <> 0 AND type IN ({types})
            GROUP BY 2, article_id"""
        for grain, expression in period.items()
    )
    return f"""
    INSERT INTO {FRESH} ({", ".join(ROLLUP_IDENTITY)}, {", ".join(_EVENT_TYPES)}, {others})
    {selects}
    """


def _drift_sql() -> str:
    """How many rows differ between the kept table (rows of all zeros being no rows) and
    the fresh one."""
    on = _same_identity_sql("k", "f")
    kept_counts = ", ".join(f"k.{f}" for f in ROLLUP_COUNTERS)
    fresh_counts = ", ".join(f"f.{f}" for f in ROLLUP_COUNTERS)
    nonzero = " OR ".join(f"{f} <> 0" for f in ROLLUP_COUNTERS)
    return f"""
    SELECT count(*)
    FROM (SELECT * FROM {FunnelRollup._meta.db_table} WHERE {nonzero}) k
    FULL JOIN {FRESH} f ON {on}
    WHERE k.id IS NULL OR f.grain IS NULL OR ({kept_counts}) IS DISTINCT FROM ({fresh_counts})
    """


def funnel_rollups_rebuild_sql() -> int:
    """Replace every rollup row by the recomputation; returns how many rows had drifted.
    Call it inside a transaction (``funnel_rollups_rebuild`` does), on PostgreSQL."""
    table = FunnelRollup._meta.db_table
    columns = ", ".join((*ROLLUP_IDENTITY, *ROLLUP_COUNTERS))
    params = {
        "salt": record_key_salt(),
        "clinic_time_zone": settings.CLINIC_TIME_ZONE,
        "target_minutes": int(settings.SPEED_TO_LEAD_MINUTES),
    }
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(f"DROP TABLE IF EXISTS {FRESH}")
        cursor.execute(_day_rows_sql(), params)
        for grain in ("week", "month"):
            cursor.execute(_sum_rows_sql(grain, all_sources=False))
        for grain in ("day", "week", "month"):
            cursor.execute(_sum_rows_sql(grain, all_sources=True))
        cursor.execute(_event_rows_sql())
        cursor.execute(f"ANALYZE {FRESH}")
        cursor.execute(_drift_sql())
        drift = cursor.fetchone()[0]
        if drift:
            # Only the rows that differ are written (none, on a good night): a kept row
            # without an identical fresh one goes, a fresh row without one comes. The
            # rows to add are set aside first: an INSERT that anti-joins the table it
            # fills would scan its own new rows again for every row (quadratic).
            same = _same_row_sql("k", "f")
            cursor.execute(f"DROP TABLE IF EXISTS {CHANGED}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {CHANGED} AS SELECT f.* FROM {FRESH} f "
                f"LEFT JOIN {table} k ON {same} WHERE k.id IS NULL"
            )
            cursor.execute(
                f"DELETE FROM {table} k WHERE NOT EXISTS (SELECT 1 FROM {FRESH} f WHERE {same})"
            )
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {CHANGED}")
            cursor.execute(f"DROP TABLE {CHANGED}")
        cursor.execute(f"DROP TABLE {FRESH}")
    return drift


def _same_identity_sql(kept: str, fresh: str) -> str:
    # coalesce, not IS NOT DISTINCT FROM: a FULL JOIN needs a hashable condition.
    return " AND ".join(
        f"coalesce({kept}.{c}, 0) = coalesce({fresh}.{c}, 0)"
        if c == "article_id"
        else f"{kept}.{c} = {fresh}.{c}"
        for c in ROLLUP_IDENTITY
    )


def _same_row_sql(kept: str, fresh: str) -> str:
    counters = " AND ".join(f"{kept}.{c} = {fresh}.{c}" for c in ROLLUP_COUNTERS)
    return f"{_same_identity_sql(kept, fresh)} AND {counters}"


# --- The same lead by lead, in Python (SQLite, and the property test's reference) ---------


def _leads_with_submissions(*, chunk: int = 2000) -> Iterator[tuple[Lead, list[Submission]]]:
    """Every lead that has a non-spam submission, with all its submissions."""
    lead_ids = (
        Submission.objects.filter(is_spam=False)
        .order_by("lead_id")
        .values_list("lead_id", flat=True)
        .distinct()
    )
    ids = list(lead_ids)
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        leads = {lead.pk: lead for lead in Lead.objects.filter(pk__in=part).only(*_LEAD_FIELDS)}
        grouped: dict[int, list[Submission]] = defaultdict(list)
        for submission in Submission.objects.filter(lead_id__in=part).only(*_SUBMISSION_FIELDS):
            grouped[submission.lead_id].append(submission)
        for lead_id in part:
            if lead_id in leads:
                yield leads[lead_id], grouped[lead_id]


def funnel_contributions_recompute() -> Contributions:
    """All lead contributions, from the raw rows."""
    total: Contributions = Counter()
    for lead, submissions in _leads_with_submissions():
        total.update(lead_funnel_contributions(lead, submissions))
    return total


def _rows_from(contributions: Contributions) -> list[FunnelRollup]:
    rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (key, field), count in contributions.items():
        if not count:
            continue
        for lookup in _rollup_lookups(key):
            rows[tuple(lookup.items())][field] += count
    return [FunnelRollup(**dict(lookup), **counts) for lookup, counts in rows.items()]


def _event_rows() -> list[FunnelRollup]:
    rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts = ArticleDailyCount.objects.values_list("article_id", "day", "type", "count")
    for article_id, day, event_type, count in counts.iterator():
        if not count or event_type not in _EVENT_FIELD:
            continue
        for grain in Grain.values:
            rows[(grain, period_start(day, grain), article_id)][_EVENT_FIELD[event_type]] += count
    return [
        FunnelRollup(
            grain=grain,
            period_start=start,
            attribution=Attribution.EVENTS,
            article_id=article_id,
            **fields,
        )
        for (grain, start, article_id), fields in rows.items()
    ]


def funnel_rollups_rebuild() -> int:
    """Replace every rollup row with a recomputation from the raw rows (the nightly
    reconciliation). One transaction: readers see the old rows or the new ones. Returns
    how many rows differed from what the write paths had kept (0 when all is well).
    Set-based SQL on PostgreSQL (:func:`funnel_rollups_rebuild_sql`), lead by lead in
    Python elsewhere; both apply the rules of ``lead_funnel_contributions``."""
    with transaction.atomic():
        # The write paths lock only their lead's row, so a change committed while this
        # runs may be missed until the next rebuild: it runs at night, when few come.
        if connection.vendor == "postgresql":
            drift = funnel_rollups_rebuild_sql()
        else:
            drift = _rollups_rebuild_python()
    if drift:
        logger.warning("Funnel rollups rebuilt: %s rows had drifted", drift)
    return drift


def _rollups_rebuild_python() -> int:
    """The rebuild lead by lead, for SQLite (see the module's docstring)."""
    fresh = _rows_from(funnel_contributions_recompute()) + _event_rows()
    kept = _rollup_table()
    fresh_table = {_identity(row): _counts(row) for row in fresh}
    drift = sum(
        1
        for identity in kept.keys() | fresh_table.keys()
        if kept.get(identity) != fresh_table.get(identity)
    )
    FunnelRollup.objects.all().delete()
    FunnelRollup.objects.bulk_create(fresh, batch_size=2000)
    return drift


def _identity(row: FunnelRollup) -> tuple:
    return tuple(getattr(row, column) for column in ROLLUP_IDENTITY)


def _counts(row: FunnelRollup) -> dict[str, int]:
    return {field: getattr(row, field) for field in ROLLUP_COUNTERS if getattr(row, field)}


def _rollup_table() -> dict[tuple, dict[str, int]]:
    table = {}
    for row in FunnelRollup.objects.all().iterator(chunk_size=2000):
        counts = _counts(row)
        if counts:
            table[_identity(row)] = counts
    return table
