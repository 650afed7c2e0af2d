"""Profile of one public lead POST: `.venv/bin/python bench/profile_intake.py`.

Where a POST's CPU goes and how many statements it sends, on the benchmark's own
settings (production's, with throwaway values: bench/intake.py's ``server_env``)
against a fresh ``clinic_bench_profile`` database and Redis databases 14 and 15 (or
``$BENCH_DATABASE``_profile and ``$BENCH_REDIS_DBS``), through Django's full handler
and middleware (the test client, so no gunicorn and no network in the figures).
Prints the milliseconds per POST (wall, and this process's CPU), the statements of
one POST, and the functions that take the most time (CPU time by default,
``--clock wall`` for wall time), by own time and by cumulative time. Nothing leaves
the machine; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
LEADS = "/api/v1/leads/"
BASELINE_INSERT = "/bench/baseline/insert/"  # bench/baseline_urls.py


def body(number: int) -> str:
    return json.dumps(
        {
            "first_name": "Maria",
            "phone": f"+1202555{number % 10000:04d}",
            "email": f"reader{number}@example.org",
            "sms_consent": False,
            "article": "science-behind-antidepressants",
            "page_url": "https://clinic.example/articles/science-behind-antidepressants/",
            "utm_source": "newsletter",
            "utm_campaign": "december",
        }
    )


def child(requests: int, top: int, clock: str, output: str) -> None:
    import cProfile
    import pstats
    import time

    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from intake.models import Article

    Article.objects.get_or_create(slug="science-behind-antidepressants", defaults={"title": "A"})
    client = Client(HTTP_HOST="127.0.0.1")

    def post(number: int) -> None:
        response = client.post(
            LEADS,
            body(number),
            content_type="application/json",
            HTTP_X_FORWARDED_FOR=f"198.51.{number // 250 % 250}.{number % 250}",
            HTTP_IDEMPOTENCY_KEY=f"profile-{os.getpid()}-{number}",
        )
        assert response.status_code == 201, response.content

    for number in range(50):  # warm: connections, caches, imports
        post(number)
    # The statements of one POST (Django's queries_log is reset at each request's start,
    # so a wrapper counts them; BEGIN and COMMIT are the connection's, not statements).
    statements: list[str] = []
    with connection.execute_wrapper(
        lambda execute, sql, params, many, context: (
            statements.append(sql) or execute(sql, params, many, context)
        )
    ):
        post(50)

    def baseline(number: int) -> None:
        response = client.post(BASELINE_INSERT, body(number), content_type="application/json")
        assert response.status_code == 201, response.content

    def measure(send, first: int, count: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for number in range(first, first + count):
            send(number)
        return time.perf_counter() - wall, time.process_time() - cpu

    # Without the profiler, the POST and the bare-insert view interleaved in slices (the
    # machine's load changes over a run): wall time (waits on PostgreSQL and Redis
    # included) and this process's CPU time (what limits the requests a core answers).
    for number in range(50):
        baseline(number)
    offset, size = 51, max(1, requests // 5)
    totals = {"post": [0.0, 0.0], "baseline": [0.0, 0.0]}
    for _ in range(5):
        for name, send in (("post", post), ("baseline", baseline)):
            wall, cpu = measure(send, offset, size)
            totals[name][0] += wall
            totals[name][1] += cpu
        offset += size
    for name, label in (("post", "POST"), ("baseline", "bare insert")):
        wall, cpu = (value / (5 * size) * 1000 for value in totals[name])
        print(f"ms per {label}, wall: {wall:.2f}, CPU of this process: {cpu:.2f} (profiler off)")
    print(
        f"POST / bare insert, CPU of this process: {totals['post'][1] / totals['baseline'][1]:.2f}x"
    )
    print(f"statements of one POST: {len(statements)}")
    for sql in statements:
        print("   ", sql[:110])
    # The profile, in CPU time by default: the waits on the network (PostgreSQL's commit,
    # Redis) cost the server a thread, not a core, and the machine's load inflates them.
    profile = cProfile.Profile(time.process_time) if clock == "cpu" else cProfile.Profile()
    profile.enable()
    for number in range(offset, offset + requests):
        post(number)
    profile.disable()
    print(f"profile clock: {clock}")
    if output:
        profile.dump_stats(output)
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="the profile's clock: this process's CPU time (default) or wall time",
    )
    parser.add_argument("--output", default="", help="also write the raw profile (pstats) here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.top, args.clock, args.output)
        return
    # bench/intake.py's helpers; the child imports the intake app under that name.
    sys.path.insert(0, str(BENCH_DIR))
    import intake as bench_intake
    from intake import log, prepare_database, psql, redis_flush, server_env

    # Its own database, so that it can run beside bench/intake.py.
    DATABASE = bench_intake.DATABASE = bench_intake.DATABASE + "_profile"

    env = {**server_env(port=8000), "DJANGO_SETTINGS_MODULE": "bench.settings"}
    env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DATABASE}"
    env["PYTHONPATH"] = str(BASE_DIR)
    prepare_database(env)
    redis_flush()
    try:
        log(f"profiling {args.requests} POSTs of {LEADS}")
        subprocess.run(
            [sys.executable, __file__, "--child", "--requests", str(args.requests),
             "--top", str(args.top), "--clock", args.clock,
             "--output", str(Path(args.output).resolve()) if args.output else ""],
            cwd=BASE_DIR, env=env, check=True, timeout=600,
        )  # fmt: skip
    finally:
        redis_flush()
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
