"""Benchmark of routing's scale-out: `.venv/bin/python bench/routing_scale.py`.

Issue 24, item 5: two worker processes route twice what one does. N unprocessed
submissions (each a new person with a phone and an email and no SMS consent, so no
provider is needed; their confirmation emails are queued for a notifications worker
that is not started) are inserted straight into a fresh ``clinic_bench_routing``
database with production settings (bench/settings.py); then 1 Celery worker process
(``-c 1``, queue ``scheduling``) is started, the batch router is kicked
(``scheduling.services.routing_kick``), and the time until all N are processed is
read from PostgreSQL; then again with 2 such processes on a fresh batch of N. It
prints routed/s for 1 and 2 and their ratio beside the target (2x), and, for
comparison, routed/s of routing one submission per transaction
(``submission_route`` in a loop, one process).

    .venv/bin/python bench/routing_scale.py                 # 3,000 submissions a run
    .venv/bin/python bench/routing_scale.py --quick         # 300, to check it works
    .venv/bin/python bench/routing_scale.py --redis-dbs 3,4 # broker and cache databases
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import (
    BASE_DIR,
    HOST,
    PG,
    PYTHON,
    REDIS_DBS,
    REDIS_PORT,
    check_services,
    free_port,
    log,
    psql,
    server_env,
    stop,
)
from bench.results import quick_mode, result

DATABASE = "clinic_bench_routing"
SCALE_TARGET = 2.0
DRAIN_SECONDS = 600
ARTICLE = "science-behind-antidepressants"

# Run in `manage.py shell` with the bench's settings: N new people's submissions, built
# by the intake's own code (hashes, consent evidence, callback window), stored in one
# insert without the POST's hand-off, so nothing routes them until the kick.
INSERT = """
from intake.models import Submission
from intake.services import submission_build
from phonenumber_field.phonenumber import to_python
rows = []
for index in range({start}, {start} + {count}):
    request = submission_build(
        first_name="Bench", phone=to_python(f"+1202{{5550000 + index % 10000:07d}}"[:12]),
        email=f"reader{{index}}@example.org", sms_consent=False,
        article_slug="{article}", utm={{"utm_source": "bench"}}, ip_address="198.18.0.1",
        user_agent="bench",
    )
    rows.append(request.submission)
Submission.objects.bulk_create(rows, batch_size=1000)
"""
KICK = "from scheduling.services import routing_kick; routing_kick(force=True)"
ONE_BY_ONE = """
import time
from intake.models import Submission
from scheduling.services import submission_route
ids = list(Submission.objects.filter(processed_at__isnull=True).order_by("pk")
           .values_list("pk", flat=True))
begin = time.monotonic()
for submission_id in ids:
    submission_route(submission_id=submission_id)
print(f"ONE_BY_ONE {len(ids)} {time.monotonic() - begin:.3f}")
"""


def shell(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    return done.stdout


def unprocessed() -> int:
    import psycopg

    with psycopg.connect(dbname=DATABASE, **PG) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM intake_submission WHERE processed_at IS NULL"
        ).fetchone()
    return int(count)


def redis_flush(dbs: tuple[int, int]) -> None:
    import redis

    for db in dbs:
        redis.Redis(host=HOST, port=REDIS_PORT, db=db, socket_timeout=5).flushdb()


def start_workers(env: dict[str, str], processes: int, logs: Path) -> list[subprocess.Popen]:
    """``processes`` Celery workers of one process each on the scheduling queue: as
    many machines, each running one."""
    workers = []
    for number in range(processes):
        command = [
            PYTHON, "-m", "celery", "-A", "config", "worker",
            "--loglevel=WARNING", "--concurrency=1", "-n", f"router{number}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-Q", "scheduling",
        ]  # fmt: skip
        with (logs / f"worker-routing-{number}.log").open("wb") as worker_log:
            worker = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers.append(worker)
    return workers


def routed_per_second(
    env: dict[str, str], *, processes: int, count: int, start: int, logs: Path
) -> float:
    """Insert ``count`` submissions, start the workers, kick, and time the drain."""
    shell(env, INSERT.format(start=start, count=count, article=ARTICLE))
    workers = start_workers(env, processes, logs)
    try:
        time.sleep(6)  # the workers connect and their pools start
        begin = time.monotonic()
        shell(env, KICK)
        deadline = begin + DRAIN_SECONDS
        while (left := unprocessed()) and time.monotonic() < deadline:
            time.sleep(0.2)
        seconds = time.monotonic() - begin
    finally:
        for worker in workers:
            stop(worker)
    if left:
        log(f"{left} of {count} still unprocessed after {DRAIN_SECONDS} s")
    rate = (count - left) / seconds
    log(f"{processes} worker process(es): {count - left} routed in {seconds:.1f} s, {rate:.0f}/s")
    shutil.copy(logs / "worker-routing-0.log", logs / f"worker-routing-0-of-{processes}.log")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=3000, help="per run")
    parser.add_argument("--quick", action="store_true", help="300 per run")
    parser.add_argument(
        "--redis-dbs",
        default=",".join(map(str, REDIS_DBS)),
        help="broker and cache Redis databases (flushed before and after)",
    )
    args = parser.parse_args()
    count = 300 if args.quick or quick_mode() else args.submissions
    dbs = tuple(int(db) for db in args.redis_dbs.split(","))
    assert len(dbs) == 2, "--redis-dbs takes two numbers: broker,cache"

    check_services()
    env = {
        **server_env(free_port()),
        "DATABASE_URL": f"postgres://{PG['user']}@{HOST}:{PG['port']}/{DATABASE}",
        "REDIS_URL": f"redis://{HOST}:{REDIS_PORT}/{dbs[0]}",
        "REDIS_CACHE_URL": f"redis://{HOST}:{REDIS_PORT}/{dbs[1]}",
    }
    logs = BASE_DIR / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        redis_flush(dbs)
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        psql(f'CREATE DATABASE "{DATABASE}"')
        log(f"migrating {DATABASE}")
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=BASE_DIR, env=env, check=True, timeout=600,
        )  # fmt: skip
        psql(
            "INSERT INTO intake_article (slug, title, topic, body, source_url, tracking_number,"
            " is_listed, needs_review, created_at) VALUES ('science-behind-antidepressants',"
            " 'Bench', '', '', '', '', true, false, now()) ON CONFLICT (slug) DO NOTHING",
            database=DATABASE,
        )
        one = routed_per_second(env, processes=1, count=count, start=0, logs=logs)
        two = routed_per_second(env, processes=2, count=count, start=count, logs=logs)
        redis_flush(dbs)

        shell(env, INSERT.format(start=2 * count, count=count, article=ARTICLE))
        output = shell(env, ONE_BY_ONE)
        routed, seconds = output.split("ONE_BY_ONE ", 1)[1].split()[:2]
        single = int(routed) / float(seconds)

        ratio = two / one
        print(
            f"{count} new submissions a run; batches of ROUTING_BATCH_SIZE (default 100); "
            f"{os.cpu_count()} cores shared with PostgreSQL, Redis and this process"
        )
        print(f"1 worker process:  {one:7.0f} routed/s")
        print(f"2 worker processes: {two:7.0f} routed/s  ({ratio:.2f}x, target {SCALE_TARGET:g}x)")
        print(f"one per transaction (submission_route in a loop, 1 process): {single:.0f}/s")
        result(
            figure="routing: routed/s, 1 worker process (batches)",
            measured=round(one, 1),
            unit="submissions/s",
            target="reported",
            met=True,
        )
        result(
            figure="routing: routed/s, 2 worker processes over 1",
            measured=round(ratio, 2),
            unit="x",
            target=f">= {SCALE_TARGET:g}",
            met=ratio >= SCALE_TARGET,
        )
        result(
            figure="routing: routed/s, one submission per transaction (before batches)",
            measured=round(single, 1),
            unit="submissions/s",
            target="reported",
            met=True,
        )
        return 0
    finally:
        redis_flush(dbs)
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
