"""Benchmark of the conversion reports: `.venv/bin/python bench/reports.py`.

On PostgreSQL (a fresh ``clinic_bench_reports`` database, dropped at the end unless
``--keep``): 200 articles over two years; ``--leads`` leads (default the issue's 5 M),
each with a submission and one in twenty with a second one two days later from another
article (10% phone calls, 30% with a campaign, stages reached at funnel-like rates),
loaded by COPY from a generator in a separate process (see ``load``); and ``--events``
CTA events (default 50 M) as the per-article per-day counts the app keeps
(``ArticleDailyCount``: it stores no event rows). The rollups are then built by the
real nightly rebuild (``intake.services.funnel_rollups_rebuild``, set-based SQL), timed
from an empty rollup table and again as on a night without drift.

Prints p95 of the full-range per-article funnel and of the full-range weekly
breakdown read from the rollups (``intake.reports.article_funnel_report``, the
selector behind the API, perturbation included), and the time of the same per-article
answer computed from the raw rows. Target: <= 100 ms p95 from rollups. Ends with one
``RESULT {json}`` line per figure (figure, measured, unit, target, met; target and
met null where the issue sets none) for ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

from database import (
    bulk_insert,
    copy_columns,
    copy_from_process,
    database_create,
    database_drop,
    database_url,
    secondary_indexes_drop,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = "clinic_bench_reports"
DATABASE_URL = database_url(DATABASE)
DAYS = 730
ARTICLES = 200


def _lead_lines(write, leads: int, start: float) -> None:
    """Lead rows (COPY text): arriving at a steady pace over the two years; stages
    reached at funnel-like rates (one draw per lead, so the funnel nests)."""
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp
    span = (DAYS - 1) * 86400
    draw = random.Random(7).random
    for g in range(1, leads + 1):
        at = start + span * g / leads
        u = draw()
        stamps = []
        for share, minutes in ((0.7, 3), (0.35, 600), (0.25, 5000), (0.12, 9000)):
            if u < share:
                stamps.append(stamp(at + 60 * (minutes + 60 * draw()), UTC).isoformat())
            else:
                stamps.append("\\N")
        created = stamp(at, UTC).isoformat()
        reached = "\t".join(stamps)
        write(f"{g}\tBench\t+1202{g:07d}\tclosed\t{created}\t{reached}\n")


LEAD_COLUMNS = [
    "id",
    "first_name",
    "phone",
    "stage",
    "created_at",
    "contacted_at",
    "consult_booked_at",
    "consult_attended_at",
    "admitted_at",
]
SUBMISSION_COLUMNS = [
    "reference",
    "lead_id",
    "article_id",
    "first_name",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "created_at",
    "processed_at",
]
RETURNING = 20  # one lead in RETURNING comes back two days later, from another article


def _submission_lines(write, leads: int, start: float, first_article: int) -> None:
    """Submission rows: one per lead (10% phone calls, 30% with a campaign), and a
    second one for one lead in RETURNING."""
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp
    span = (DAYS - 1) * 86400
    draw = random.Random(11).random
    sources = ("google", "newsletter", "facebook")
    mediums = ("cpc", "email")
    for g in range(1, leads + 1):
        at = start + span * g / leads
        article = first_article + (g * 7919) % ARTICLES
        source = "phone" if g % 10 == 0 else "web"
        campaign = draw() < 0.3
        utm = f"{sources[g % 3]}\t{mediums[g % 2]}\tcampaign-{g % 5}" if campaign else "\t\t"
        write(
            f"B-{g}\t{g}\t{article}\tBench\t{source}\t{utm}\t"
            f"{stamp(at, UTC).isoformat()}\t{stamp(at + 1 + g % 40, UTC).isoformat()}\n"
        )
        if g % RETURNING == 0:
            again = at + 2 * 86400
            write(
                f"B-{g}-2\t{g}\t{first_article + (g * 31) % ARTICLES}\tBench\tweb\t"
                f"newsletter\temail\tcampaign-return\t{stamp(again, UTC).isoformat()}\t"
                f"{stamp(again + 5, UTC).isoformat()}\n"
            )


def load(leads: int, events: int) -> dict[str, float]:
    """Bulk-load the raw rows; returns seconds per step. Leads and submissions by COPY
    from a generator in a separate process (FREEZE, into tables truncated in the same
    transaction), their secondary indexes and foreign keys dropped before and built
    once after; the event counts by INSERT ... SELECT (PostgreSQL makes them itself).

    Not UNLOGGED: SET LOGGED afterwards writes the whole table through the WAL anyway
    (the cost moves, it does not go), and a logged table's foreign key to the lead
    (scheduling's) forbids it; COPY with synchronous_commit off is what production's
    own tables would see."""
    from django.db import connection, transaction

    timings: dict[str, float] = {}
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        bulk_insert(
            cursor,
            "intake_article",
            ARTICLES,
            {
                "slug": "'bench-' || g",
                "title": "'Bench article ' || g",
                "topic": "'topic-' || mod(g, 12)",
            },
        )
        cursor.execute("SELECT min(id) FROM intake_article")
        first_article = cursor.fetchone()[0]
        cursor.execute(
            "SELECT extract(epoch FROM date_trunc('day', now()) - %s * interval '1 day')", [DAYS]
        )
        start = float(cursor.fetchone()[0])
        lead_columns, lead_fillers = copy_columns(cursor, "intake_lead", LEAD_COLUMNS)
        submission_columns, submission_fillers = copy_columns(
            cursor, "intake_submission", SUBMISSION_COLUMNS
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE intake_submission, intake_lead CASCADE")
        restore = secondary_indexes_drop(cursor, ["intake_submission", "intake_lead"])
        raw = connection.connection
        step = time.monotonic()
        copy_from_process(
            raw, "intake_lead", lead_columns, _with_fillers(_lead_lines, lead_fillers), leads, start
        )
        timings["copy leads"] = time.monotonic() - step
        step = time.monotonic()
        copy_from_process(
            raw,
            "intake_submission",
            submission_columns,
            _with_fillers(_submission_lines, submission_fillers),
            leads,
            start,
            first_article,
        )
        timings["copy submissions"] = time.monotonic() - step
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('intake_lead', 'id'), max(id)) FROM intake_lead"
        )
        step = time.monotonic()
        for statement in restore:
            cursor.execute(statement)
        timings["indexes and keys"] = time.monotonic() - step
    step = time.monotonic()
    per_row = max(1, events // (ARTICLES * DAYS * 3))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO intake_articledailycount (article_id, day, type, count) "
            "SELECT a.id, current_date - d, t, "
            "(%s * (0.5 + (('x' || substr(md5(a.id::text || d::text || t), 1, 8))"
            "::bit(32)::bigint / 4294967296.0)))::int "
            "FROM intake_article a, generate_series(1, %s) d, "
            "unnest(ARRAY['article_view', 'cta_view', 'form_start']) t",
            [per_row, DAYS],
        )
        # Rounded per row: the difference goes to one row, so the total is exact.
        cursor.execute(
            "UPDATE intake_articledailycount SET count = count + %s - "
            "(SELECT sum(count) FROM intake_articledailycount) "
            "WHERE id = (SELECT max(id) FROM intake_articledailycount)",
            [events],
        )
        timings["event counts"] = time.monotonic() - step
        step = time.monotonic()
        cursor.execute("ANALYZE")
        timings["analyze"] = time.monotonic() - step
    timings["total"] = time.monotonic() - started
    return timings


def _with_fillers(generate, fillers: str):
    """``generate`` with each line's required-but-unset columns appended."""

    def lines(write, *args) -> None:
        def write_filled(line: str) -> None:
            write(line[:-1] + fillers + "\n")

        generate(write_filled, *args)

    return lines


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(function, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        out.append((time.perf_counter() - started) * 1000)
    return out


# The per-article funnel by first touch, from the raw rows: each lead's first
# non-spam submission gives its article; stages counted when reached after it.
RAW_FUNNEL = """
WITH first_touch AS (
    SELECT DISTINCT ON (s.lead_id) s.lead_id, s.article_id, s.created_at
    FROM intake_submission s WHERE NOT s.is_spam
    ORDER BY s.lead_id, s.created_at, s.id
), per_article AS (
    SELECT f.article_id,
           count(*) AS leads,
           count(*) FILTER (WHERE coalesce(l.contacted_at, l.consult_booked_at,
                   l.consult_attended_at, l.admitted_at) >= f.created_at) AS contacted,
           count(*) FILTER (WHERE coalesce(l.consult_booked_at, l.consult_attended_at,
                   l.admitted_at) >= f.created_at) AS booked,
           count(*) FILTER (WHERE coalesce(l.consult_attended_at, l.admitted_at)
                   >= f.created_at) AS attended,
           count(*) FILTER (WHERE l.admitted_at >= f.created_at) AS admitted
    FROM first_touch f JOIN intake_lead l ON l.id = f.lead_id
    GROUP BY f.article_id
), submissions AS (
    SELECT f.article_id, count(*) AS submissions
    FROM intake_submission s JOIN first_touch f ON f.lead_id = s.lead_id
    WHERE NOT s.is_spam GROUP BY f.article_id
), events AS (
    SELECT article_id, sum(count) FILTER (WHERE type = 'article_view') AS views,
           sum(count) FILTER (WHERE type = 'cta_view') AS cta_views,
           sum(count) FILTER (WHERE type = 'form_start') AS form_starts
    FROM intake_articledailycount GROUP BY article_id
)
SELECT * FROM per_article p JOIN submissions USING (article_id) LEFT JOIN events USING (article_id)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=5_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    database_create(DATABASE)
    os.environ.update(
        {
            "DJANGO_ENV": "test",
            "DATABASE_URL": DATABASE_URL,
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    sys.path.insert(0, str(BASE_DIR))
    import logging

    import django

    django.setup()
    logging.getLogger("intake.services.rollups").setLevel(logging.ERROR)
    from django.db import connection, connections

    from intake.models import FunnelRollup
    from intake.report_disclosure import noise
    from intake.reports import article_funnel_report
    from intake.services import funnel_rollups_rebuild

    try:
        timings = load(args.leads, args.events)
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(sum(count), 0) FROM intake_articledailycount")
            events_loaded = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM intake_submission")
            submissions_loaded = cursor.fetchone()[0]
        steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
        print(
            f"loaded {args.leads:,} leads, {submissions_loaded:,} submissions and "
            f"{events_loaded:,} events: {steps}",
            flush=True,
        )
        started = time.monotonic()
        funnel_rollups_rebuild()
        rebuild_seconds = time.monotonic() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE intake_funnelrollup")
        rows = FunnelRollup.objects.count()
        print(f"rebuilt {rows:,} rollup rows from the raw rows in {rebuild_seconds:.0f} s")
        started = time.monotonic()
        drift = funnel_rollups_rebuild()
        nightly_seconds = time.monotonic() - started
        print(f"and again, as on a night without drift ({drift} rows): {nightly_seconds:.0f} s")

        from intake.services.events import clinic_day

        today = clinic_day()
        date_from = today - timedelta(days=DAYS)

        def per_article() -> dict:
            return article_funnel_report(date_from=date_from, date_to=today, group="article")

        def weekly() -> dict:
            return article_funnel_report(date_from=date_from, date_to=today, group="week")

        def raw() -> list:
            with connection.cursor() as cursor:
                cursor.execute(RAW_FUNNEL)
                return cursor.fetchall()

        per_article()
        weekly()  # warm the caches as a dashboard in use would be
        article_ms = timed(per_article, args.runs)
        weekly_ms = timed(weekly, args.runs)
        raw_ms = timed(raw, 3)
        answer = per_article()["total"]
        raw_leads = sum(row[1] for row in raw())
        print(
            f"checks: leads from rollups {answer['leads']:,} (perturbed by up to "
            f"{noise()}), from raw rows {raw_leads:,}; "
            f"{os.cpu_count()} cores"
        )
        print()
        print(
            f"size: {args.leads:,} leads (issue: 5,000,000), {events_loaded:,} events "
            f"(issue: 50,000,000), {ARTICLES} articles, {DAYS} days"
        )
        # (figure, measured, unit, target, met): a target is a ceiling, but for the size.
        figures = [
            ("leads loaded", args.leads, "leads", 5_000_000, args.leads >= 5_000_000),
            ("events loaded", events_loaded, "events", 50_000_000, events_loaded >= 50_000_000),
            ("bulk load", round(timings["total"], 1), "s", None, None),
            ("rollup rebuild (SQL), from empty", round(rebuild_seconds, 1), "s", None, None),
            ("rollup rebuild (SQL), no drift", round(nightly_seconds, 1), "s", None, None),
            ("per-article funnel p50", round(percentile(article_ms, 0.5), 1), "ms", None, None),
            ("per-article funnel p95", round(percentile(article_ms, 0.95), 1), "ms", 100, None),
            ("weekly breakdown p50", round(percentile(weekly_ms, 0.5), 1), "ms", None, None),
            ("weekly breakdown p95", round(percentile(weekly_ms, 0.95), 1), "ms", 100, None),
            ("per-article funnel, raw rows", round(min(raw_ms)), "ms", None, None),
        ]
        figures = [
            (
                name,
                measured,
                unit,
                target,
                met if met is not None or target is None else measured <= target,
            )
            for name, measured, unit, target, met in figures
        ]
        print(f"{'figure':<30}{'measured':>20}{'target':>20}  met")
        for name, measured, unit, target, met in figures:
            verdict = "" if met is None else ("yes" if met else "NO")
            shown_target = "" if target is None else f"{target:,} {unit}"
            print(f"{name:<30}{f'{measured:,} {unit}':>20}{shown_target:>20}  {verdict}")
        print()
        for name, measured, unit, target, met in figures:
            result = {"figure": name, "measured": measured, "unit": unit}
            print("RESULT " + json.dumps({**result, "target": target, "met": met}))
        ok = all(met for *_rest, met in figures[2:] if met is not None)
        return 0 if ok else 1
    finally:
        connections.close_all()
        if not args.keep:
            database_drop(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
