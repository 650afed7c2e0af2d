"""Benchmark of the worker side of the intake: `.venv/bin/python bench/worker_intake.py`.

The public POST stores only the submission; a Celery worker then attaches the lead,
writes the consent ledger and the funnel counts, queues the callback and the
confirmations (``scheduling.services.submission_route``, which stamps
``Submission.processed_at`` in the same transaction). This measures whether the
worker keeps up: leads are posted open loop at ``--rate`` per second for
``--seconds`` to gunicorn (production settings, bench/settings.py) with a real
worker on Redis (a fresh ``clinic_bench`` database), and for each submission the
time from its POST being stored (``created_at``) to its routing (``processed_at``)
is read back from PostgreSQL.

Each lead is a new person with an email and no SMS consent (confirmation emails go
to the console backend; Twilio points at a closed port). Target: every submission
routed within 5 s of its POST at p99, 0 left unrouted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import (
    BASE_DIR,
    DATABASE,
    HOST,
    PG,
    check_services,
    free_port,
    prepare_database,
    psql,
    redis_flush,
    server_env,
    start_gunicorn,
    stop,
)
from bench.results import quick_mode, result

ROUTED_WITHIN_SECONDS = 5.0
DRAIN_SECONDS = 120


class Poster:
    """Open-loop POSTs: each lead is sent at its due time from a pool of keep-alive
    connections (one per thread)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()
        self.statuses: list[int] = []
        self.lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection(
                HOST, self.port, timeout=30
            )
        return connection

    def post(self, index: int) -> None:
        body = json.dumps(
            {
                "first_name": "Bench",
                "email": f"reader{index}@example.org",
                "phone": f"+1202{5550000 + index % 10000:07d}"[:12] if index % 2 else "",
                "sms_consent": False,
                "article": "science-behind-antidepressants",
                "utm_source": "bench",
            }
        )
        headers = {
            "Content-Type": "application/json",
            "X-Forwarded-For": f"198.18.{index // 250 % 250}.{index % 250}",
        }
        try:
            connection = self._connection()
            connection.request("POST", "/api/v1/leads/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.local.connection = None
            status = 0
        with self.lock:
            self.statuses.append(status)


def routing_lags() -> tuple[int, int, list[float]]:
    """(submissions, unrouted, seconds from stored to routed of each routed one)."""
    import psycopg

    with psycopg.connect(dbname=DATABASE, **PG) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM processed_at - created_at) FROM intake_submission"
        ).fetchall()
    lags = sorted(float(lag) for (lag,) in rows if lag is not None)
    return len(rows), sum(1 for (lag,) in rows if lag is None), lags


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("inf")
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="leads per second offered")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--web-workers", type=int, default=3)
    args = parser.parse_args()
    if quick_mode():  # bench/run.py --quick: seconds, to check it works, not the figures
        args.rate, args.seconds = min(args.rate, 20.0), min(args.seconds, 3.0)

    check_services()
    port = free_port()
    env = server_env(port)
    logs = BASE_DIR / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server = worker = None
    try:
        redis_flush()
        prepare_database(env)
        psql(
            "INSERT INTO intake_article (slug, title, topic, body, source_url, tracking_number,"
            " is_listed, needs_review, created_at) VALUES ('science-behind-antidepressants',"
            " 'Bench', '', '', '', '', true, false, now()) ON CONFLICT (slug) DO NOTHING",
            database=DATABASE,
        )
        server = start_gunicorn(
            env, port, workers=args.web_workers, threads=2, log_path=logs / "gunicorn.log"
        )
        with (logs / "worker-intake.log").open("wb") as worker_log:
            worker = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "config", "worker",
                    "--loglevel=WARNING", f"--concurrency={args.concurrency}",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-Q", "confirmations,notifications,scheduling,default",
                ],
                cwd=BASE_DIR, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        time.sleep(6)  # the worker connects and its pool starts

        poster = Poster(port)
        total = int(args.rate * args.seconds)
        begin = time.monotonic()
        with ThreadPoolExecutor(max_workers=64) as pool:
            for index in range(total):
                time.sleep(max(0.0, begin + index / args.rate - time.monotonic()))
                pool.submit(poster.post, index)
        posted_in = time.monotonic() - begin
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            submissions, unrouted, _ = routing_lags()
            if submissions and not unrouted:
                break
            time.sleep(1)
        submissions, unrouted, lags = routing_lags()
        accepted = poster.statuses.count(201)
        p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
        if unrouted:
            p99 = float("inf")
        print(
            f"{total} leads offered at {args.rate:g}/s over {args.seconds:g} s; sent in "
            f"{posted_in:.1f} s ({total / posted_in:.0f}/s); {accepted} answered 201; "
            f"{submissions} stored, {unrouted} not routed after {DRAIN_SECONDS} s more; worker "
            f"pool of {args.concurrency} on {os.cpu_count()} cores shared with gunicorn "
            f"({args.web_workers} workers), PostgreSQL, Redis and this load process"
        )
        print(f"stored -> routed: p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(lags or [0]):.2f} s")
        result(
            figure=f"worker: stored -> routed p99 at {args.rate:g} leads/s offered",
            measured=p99,
            unit="s",
            target=f"<= {ROUTED_WITHIN_SECONDS:g}",
            met=p99 <= ROUTED_WITHIN_SECONDS,
        )
        result(
            figure="worker: submissions left unrouted",
            measured=unrouted,
            unit="submissions",
            target="== 0",
            met=unrouted == 0,
        )
        result(
            figure=f"worker: POSTs answered 201 of {total}",
            measured=accepted,
            unit="requests",
            target=f">= {total}",
            met=accepted == total,
        )
        return 0
    finally:
        stop(worker)
        stop(server)
        redis_flush()
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
