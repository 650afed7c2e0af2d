"""Profile of one public lead POST: `.venv/bin/python bench/profile_intake.py`.

Where a POST's CPU goes and how many statements it sends, on the benchmark's own
settings (production's, with throwaway values: bench/intake.py's ``server_env``)
against a fresh ``clinic_bench_profile`` database and Redis databases 14 and 15, through
Django's full handler and middleware (the test client, so no gunicorn and no
network in the figures). Prints the milliseconds per POST, the statements of one
POST, and the functions that take the most time, by own time and by cumulative
time. Nothing leaves the machine; the database is dropped at the end.
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


def child(requests: int, top: int) -> None:
    import cProfile
    import pstats
    import time

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

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
    with CaptureQueriesContext(connection) as queries:
        post(50)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for number in range(51, 51 + requests):
        post(number)
    profile.disable()
    elapsed = time.perf_counter() - started
    print(f"ms per POST (in process, profiler on): {elapsed / requests * 1000:.2f}")
    print(f"statements of one POST: {len(queries.captured_queries)}")
    for query in queries.captured_queries:
        print("   ", query["sql"][:110])
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.top)
        return
    # bench/intake.py's helpers; the child imports the intake app under that name.
    sys.path.insert(0, str(BENCH_DIR))
    import intake as bench_intake
    from intake import log, prepare_database, psql, redis_flush, server_env

    # Its own database, so that it can run beside bench/intake.py.
    DATABASE = bench_intake.DATABASE = "clinic_bench_profile"

    env = {**server_env(port=8000), "DJANGO_SETTINGS_MODULE": "bench.settings"}
    env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DATABASE}"
    env["PYTHONPATH"] = str(BASE_DIR)
    prepare_database(env)
    redis_flush()
    try:
        log(f"profiling {args.requests} POSTs of {LEADS}")
        subprocess.run(
            [sys.executable, __file__, "--child", "--requests", str(args.requests),
             "--top", str(args.top)],
            cwd=BASE_DIR, env=env, check=True, timeout=600,
        )  # fmt: skip
    finally:
        redis_flush()
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
