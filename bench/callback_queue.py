"""Benchmark of the callback queue: `.venv/bin/python bench/callback_queue.py`.

(The issue calls it bench/queue.py; that name would hide the standard library's
``queue`` module from every script in bench/, so it is callback_queue.py.)

On PostgreSQL (a fresh ``clinic_bench_queue`` database, dropped at the end) with
1,000,000 historical and 10,000 open callbacks (bulk-loaded with INSERT ... SELECT
from generate_series), 20 coordinators work concurrently, each a process with its
own connection: claim the next callback (the real service, SELECT ... FOR UPDATE
SKIP LOCKED), hold it for a short call (``--think``), close it, load the first page
of the queue through the API view (GET /api/v1/callbacks/, in-process), again. Prints
p50/p99 of both against the targets, the number of callbacks claimed twice (must be
0), and the query plans of the claim and the list.

Targets: claim p99 <= 20 ms, list p99 <= 50 ms, 0 double claims.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from database import bulk_insert, database_create, database_drop, database_url
from results import quick_mode
from results import result as result_line

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = "clinic_bench_queue"
DATABASE_URL = database_url(DATABASE)


def load(historical: int, open_count: int) -> None:
    from django.db import connection

    total = historical + open_count
    started = time.monotonic()
    with connection.cursor() as cursor:
        bulk_insert(
            cursor,
            "intake_lead",
            total,
            {
                "first_name": "'Bench'",
                "phone": "'+1202' || lpad(g::text, 7, '0')",
                "email": "''",
                "stage": f"CASE WHEN g <= {historical} THEN 'closed' ELSE 'new' END",
                "created_at": "now() - mod(g, 700) * interval '1 day'",
            },
        )
        cursor.execute("SELECT min(id) FROM intake_lead")
        first_lead = cursor.fetchone()[0]
        bulk_insert(
            cursor,
            "intake_submission",
            total,
            {
                "lead_id": f"{first_lead} + g - 1",
                "first_name": "'Bench'",
                "reference": "'B-' || g",
                "created_at": "now() - mod(g, 700) * interval '1 day'",
            },
        )
        cursor.execute("SELECT min(id) FROM intake_submission")
        first_submission = cursor.fetchone()[0]
        due = (
            f"CASE WHEN g <= {historical} THEN now() - mod(g, 700) * interval '1 day' "
            f"ELSE now() + (mod(g - {historical}, 600)) * interval '1 minute' END"
        )
        bulk_insert(
            cursor,
            "scheduling_callback",
            total,
            {
                "lead_id": f"{first_lead} + g - 1",
                "submission_id": f"{first_submission} + g - 1",
                "status": f"CASE WHEN g <= {historical} THEN 'done' ELSE 'open' END",
                "is_urgent": f"g > {historical} AND mod(g, 97) = 0",
                "due_at": due,
                "original_due_at": due,
            },
        )
        cursor.execute("ANALYZE")
    print(
        f"loaded {historical:,} historical + {open_count:,} open callbacks "
        f"in {time.monotonic() - started:.0f} s"
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _coordinator(user_id: int, claims: int, think: float, start_at: float, out) -> None:
    """One coordinator, in its own process and connection: claim, talk (``think``
    seconds), close the callback, look at the queue; again."""
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    from scheduling.models import Callback
    from scheduling.services import callback_claim_next
    from tests.signin import verified_login

    connections.close_all()  # never share the parent's connection
    client = Client()
    # Signed in as the console is: with the second factor verified.
    verified_login(client, get_user_model().objects.get(pk=user_id))
    # Warm up (imports, URLconf, connection) before the clock starts: the figures are
    # for a console that is already open.
    client.get("/api/v1/callbacks/")
    time.sleep(max(0.0, start_at - time.time()))
    claim_ms, list_ms, claimed = [], [], []
    for _ in range(claims):
        started = time.perf_counter()
        callback = callback_claim_next(user_id=user_id)
        claim_ms.append((time.perf_counter() - started) * 1000)
        if callback is None:
            break
        claimed.append(callback.pk)
        time.sleep(think)
        Callback.objects.filter(pk=callback.pk).update(status="done")
        started = time.perf_counter()
        response = client.get("/api/v1/callbacks/")
        list_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"queue page answered {response.status_code}")
    out.put((claim_ms, list_ms, claimed))
    connections.close_all()


def run(coordinators: int, claims_each: int, think: float) -> dict:
    import multiprocessing

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connections

    group, _ = Group.objects.get_or_create(name="coordinator")
    user_ids = []
    for index in range(coordinators):
        user = get_user_model().objects.create(username=f"bench-{index}")
        user.groups.add(group)
        user_ids.append(user.pk)
    connections.close_all()

    context = multiprocessing.get_context("fork")
    out = context.Queue()
    start_at = time.time() + 5
    processes = [
        context.Process(target=_coordinator, args=(user_id, claims_each, think, start_at, out))
        for user_id in user_ids
    ]
    for process in processes:
        process.start()
    claim_ms: list[float] = []
    list_ms: list[float] = []
    claimed: list[int] = []
    for _ in processes:
        claims, lists, ids = out.get(timeout=600)
        claim_ms += claims
        list_ms += lists
        claimed += ids
    for process in processes:
        process.join()
    return {
        "claims": len(claimed),
        "double": len(claimed) - len(set(claimed)),
        "claim_p50": statistics.median(claim_ms),
        "claim_p99": percentile(claim_ms, 0.99),
        "list_p50": statistics.median(list_ms),
        "list_p99": percentile(list_ms, 0.99),
        "wall": time.time() - start_at,
    }


def plans() -> str:
    from django.db import connection, transaction
    from django.utils import timezone

    from scheduling.selectors import callback_queue
    from scheduling.services.callbacks import _queue_tiers

    # The overdue tier: the one a busy queue hits most.
    claim = _queue_tiers(timezone.now())[1].select_for_update(skip_locked=True)[:1]
    listing = callback_queue()[:51]
    out = []
    with transaction.atomic(), connection.cursor() as cursor:
        for name, queryset in (("claim-next", claim), ("queue, first page", listing)):
            sql, params = queryset.query.sql_with_params()
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            out.append(f"-- {name}\n" + "\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--historical", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--coordinators", type=int, default=20)
    parser.add_argument("--claims-each", type=int, default=30)
    parser.add_argument(
        "--think", type=float, default=2.0, help="seconds a coordinator holds each callback"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if quick_mode():  # bench/run.py --quick: seconds, to check it works, not the figures
        args.historical, args.open = 2_000, 200
        args.coordinators, args.claims_each, args.think = 2, 3, 0.05

    database_create(DATABASE)
    os.environ.update(
        {
            "DJANGO_ENV": "test",
            "DATABASE_URL": DATABASE_URL,
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.db import connections

    try:
        load(args.historical, args.open)
        result = run(args.coordinators, args.claims_each, args.think)
        print(plans())
        print()
        print(
            f"{args.coordinators} coordinators (one process each, {args.think}s per call), "
            f"{result['claims']:,} claims in {result['wall']:.1f} s on {os.cpu_count()} cores "
            "(coordinators and PostgreSQL share them)"
        )
        rows = [
            ("claim-next p50", f"{result['claim_p50']:.1f} ms", "", ""),
            (
                "claim-next p99",
                f"{result['claim_p99']:.1f} ms",
                "<= 20 ms",
                result["claim_p99"] <= 20,
            ),
            ("queue first page p50", f"{result['list_p50']:.1f} ms", "", ""),
            (
                "queue first page p99",
                f"{result['list_p99']:.1f} ms",
                "<= 50 ms",
                result["list_p99"] <= 50,
            ),
            ("double claims", str(result["double"]), "0", result["double"] == 0),
        ]
        for figure, measured, unit, target, met in (
            ("claim-next p99", result["claim_p99"], "ms", "<= 20", result["claim_p99"] <= 20),
            ("queue first page p99", result["list_p99"], "ms", "<= 50", result["list_p99"] <= 50),
            ("double claims", result["double"], "claims", "== 0", result["double"] == 0),
        ):
            result_line(figure=figure, measured=measured, unit=unit, target=target, met=met)
        print(f"{'figure':<24}{'measured':>12}{'target':>12}  met")
        for name, measured, target, met in rows:
            verdict = "" if met == "" else ("yes" if met else "NO")
            print(f"{name:<24}{measured:>12}{target:>12}  {verdict}")
        return 0 if result["double"] == 0 else 1
    finally:
        connections.close_all()
        if not args.keep:
            database_drop(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
