"""Benchmark of the conversion reports: `.venv/bin/python bench/reports.py`.

On PostgreSQL (a fresh ``clinic_bench_reports`` database, dropped at the end):
200 articles over two years, ``--leads`` leads each with a submission (bulk-loaded
with INSERT ... SELECT from generate_series; 10% phone calls, 30% with a campaign,
stages reached at funnel-like rates) and ``--events`` CTA events as the per-article
per-day counts the app keeps (``ArticleDailyCount``). The rollups are then built by
the real nightly rebuild (``intake.services.funnel_rollups_rebuild``), timed.

Prints p95 of the full-range per-article funnel and of the full-range weekly
breakdown read from the rollups (``intake.reports.article_funnel_report``, the
selector behind the API), and the time of the same per-article answer computed from
the raw rows. Target: <= 100 ms p95 from rollups.

The issue's figure is 5 M leads and 50 M events; on a small machine the load and the
Python rebuild of 5 M leads take longer than a benchmark should, so ``--leads`` sets
the size (default 1 M) and the output says which size ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from database import bulk_insert, database_create, database_drop, database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = "clinic_bench_reports"
DATABASE_URL = database_url(DATABASE)
DAYS = 730
ARTICLES = 200


def load(leads: int, events: int) -> float:
    from django.db import connection

    started = time.monotonic()
    # Lead g arrives at a steady pace over the two years before yesterday.
    at = (
        f"(date_trunc('day', now()) - interval '{DAYS} days'"
        f" + (g::float8 / {leads}) * interval '{DAYS - 1} days')"
    )
    chance = "(('x' || substr(md5(g::text || '{salt}'), 1, 8))::bit(32)::bigint / 4294967296.0)"
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
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

        def stage(share: float, salt: str, minutes: int) -> str:
            return (
                f"CASE WHEN {chance.format(salt='s')} < {share} "
                f"THEN {at} + ({minutes} + 60 * {chance.format(salt=salt)})"
                " * interval '1 minute' END"
            )

        bulk_insert(
            cursor,
            "intake_lead",
            leads,
            {
                "first_name": "'Bench'",
                "phone": "'+1202' || lpad(g::text, 7, '0')",
                "stage": "'closed'",
                "created_at": at,
                "contacted_at": stage(0.7, "c", 3),
                "consult_booked_at": stage(0.35, "b", 600),
                "consult_attended_at": stage(0.25, "t", 5000),
                "admitted_at": stage(0.12, "a", 9000),
            },
        )
        cursor.execute("SELECT min(id) FROM intake_lead")
        first_lead = cursor.fetchone()[0]
        utm = chance.format(salt="u")
        bulk_insert(
            cursor,
            "intake_submission",
            leads,
            {
                "reference": "'B-' || g",
                "lead_id": f"{first_lead} + g - 1",
                "article_id": f"{first_article} + mod(g::bigint * 7919, {ARTICLES})",
                "first_name": "'Bench'",
                "source": "CASE WHEN mod(g, 10) = 0 THEN 'phone' ELSE 'web' END",
                "utm_source": f"CASE WHEN {utm} < 0.3 THEN "
                "(ARRAY['google','newsletter','facebook'])[1 + mod(g, 3)] ELSE '' END",
                "utm_medium": f"CASE WHEN {utm} < 0.3 THEN "
                "(ARRAY['cpc','email'])[1 + mod(g, 2)] ELSE '' END",
                "utm_campaign": f"CASE WHEN {utm} < 0.3 THEN 'campaign-' || mod(g, 5) ELSE '' END",
                "created_at": at,
                "processed_at": f"{at} + (1 + mod(g, 40)) * interval '1 second'",
            },
        )
        per_row = max(1, events // (ARTICLES * DAYS * 3))
        cursor.execute(
            "INSERT INTO intake_articledailycount (article_id, day, type, count) "
            "SELECT a.id, current_date - d, t, "
            "(%s * (0.5 + (('x' || substr(md5(a.id::text || d::text || t), 1, 8))"
            "::bit(32)::bigint / 4294967296.0)))::int "
            "FROM intake_article a, generate_series(1, %s) d, "
            "unnest(ARRAY['article_view', 'cta_view', 'form_start']) t",
            [per_row, DAYS],
        )
        cursor.execute("ANALYZE")
    return time.monotonic() - started


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
    parser.add_argument("--leads", type=int, default=1_000_000)
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
    from intake.reports import article_funnel_report
    from intake.services import funnel_rollups_rebuild

    try:
        load_seconds = load(args.leads, args.events)
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(sum(count), 0) FROM intake_articledailycount")
            events_loaded = cursor.fetchone()[0]
        print(f"loaded {args.leads:,} leads and {events_loaded:,} events in {load_seconds:.0f} s")
        started = time.monotonic()
        funnel_rollups_rebuild()
        rebuild_seconds = time.monotonic() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE intake_funnelrollup")
        rows = FunnelRollup.objects.count()
        print(f"rebuilt {rows:,} rollup rows from the raw rows in {rebuild_seconds:.0f} s")

        from intake.services.events import clinic_day

        today = clinic_day()
        date_from = today - __import__("datetime").timedelta(days=DAYS)

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
            f"checks: leads from rollups {answer['leads']:,}, from raw rows {raw_leads:,}; "
            f"{os.cpu_count()} cores"
        )
        print()
        print(
            f"size: {args.leads:,} leads (issue: 5,000,000), {events_loaded:,} events "
            f"(issue: 50,000,000), {ARTICLES} articles, {DAYS} days"
        )
        table = [
            ("per-article funnel p50", f"{percentile(article_ms, 0.5):.1f} ms", "", None),
            (
                "per-article funnel p95",
                f"{percentile(article_ms, 0.95):.1f} ms",
                "<= 100 ms",
                percentile(article_ms, 0.95) <= 100,
            ),
            ("weekly breakdown p50", f"{percentile(weekly_ms, 0.5):.1f} ms", "", None),
            (
                "weekly breakdown p95",
                f"{percentile(weekly_ms, 0.95):.1f} ms",
                "<= 100 ms",
                percentile(weekly_ms, 0.95) <= 100,
            ),
            ("same answer, raw rows", f"{min(raw_ms):.0f} ms", "", None),
            ("rollup rebuild", f"{rebuild_seconds:.0f} s", "", None),
        ]
        print(f"{'figure':<26}{'measured':>12}{'target':>12}  met")
        for name, measured, target, met in table:
            verdict = "" if met is None else ("yes" if met else "NO")
            print(f"{name:<26}{measured:>12}{target:>12}  {verdict}")
        ok = all(met for *_rest, met in table if met is not None)
        return 0 if ok else 1
    finally:
        connections.close_all()
        if not args.keep:
            database_drop(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
