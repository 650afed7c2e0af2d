"""Run the whole test suite as two shards at once, each on its own test database and
Redis database, and fail if either fails: `make test` (CI runs the same).

Why two shards: the suite spends much of its time waiting (browsers, real Celery
workers, live servers, PostgreSQL flushing tables between transactional tests), and
the machine has two cores. A second pytest process on a database of its own
(``DATABASE_URL``'s name + ``_shard2``, so pytest-django makes ``test_<name>_shard2``)
and a Redis database of its own (``REDIS_URL``'s number + 1) shares nothing with the
first: not a row, a cache key, a throttle count or a queue. With SQLite (no
``DATABASE_URL``) each process has its own in-memory test database anyway.

Arguments are passed to pytest; given any (a path, ``-k``, ``-x``...), the suite runs
as one process, as plain ``pytest`` would: sharding is for the whole run only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest"]
# The slow, waiting kind in one shard (browsers, real workers, live servers, the
# scheduling app's transactional tests); the rest in the other. Since transactional
# tests stopped truncating every table (tests/fast_flush.py), the first shard's ~100 of
# them lost ~1.5-2 s each against the second's ~10: one of the second's two slow
# migration tests (it migrates back and forth over the whole schema) moved across to
# even them out again. A path may be a directory or a file.
FIRST = [
    "tests/browser",
    "tests/e2e",
    "tests/scheduling",
    "tests/intake/test_mailbox_migrations.py",
]


def shard_environment(environ: dict[str, str]) -> dict[str, str]:
    """The second shard's environment: its own PostgreSQL and Redis databases."""
    shard = dict(environ)
    database = environ.get("DATABASE_URL", "")
    if database.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(database)
        shard["DATABASE_URL"] = urlunsplit(parts._replace(path=parts.path + "_shard2"))
    redis = environ.get("REDIS_URL", "")
    if redis:
        parts = urlsplit(redis)
        number = int(parts.path.strip("/") or 0)
        shard["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{number + 1}"))
    return shard


def database_ensure(url: str) -> None:
    """Create the shard's PostgreSQL database if it is missing (pytest-django makes its
    test database beside it; some checks connect to the database itself)."""
    if not url.startswith(("postgres://", "postgresql://")):
        return
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _pump(process: subprocess.Popen, name: str, lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.startswith(("FAILED", "ERROR")):
            sys.stdout.write(f"[{name}] {line}")
            sys.stdout.flush()


def main(argv: list[str]) -> int:
    if argv:
        return subprocess.call([*PYTEST, *argv], cwd=ROOT)  # noqa: S603 (our own pytest)
    ignore = [f"--ignore={path}" for path in FIRST]
    shards = {
        "shard 1": ([*PYTEST, *FIRST], dict(os.environ)),
        "shard 2": ([*PYTEST, "tests", *ignore], shard_environment(dict(os.environ))),
    }
    database_ensure(shards["shard 2"][1].get("DATABASE_URL", ""))
    started = time.monotonic()
    running = {}
    for name, (command, environment) in shards.items():
        process = subprocess.Popen(  # noqa: S603 (our own pytest)
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        pump = threading.Thread(target=_pump, args=(process, name, lines), daemon=True)
        pump.start()
        running[name] = (process, pump, lines)
    failed = False
    for name, (process, pump, lines) in running.items():
        code = process.wait()
        pump.join()
        print(f"\n===== {name}: {' '.join(shards[name][0][3:])} (exit {code}) =====")
        # A failing shard's whole output (its tracebacks); a passing one's summary.
        sys.stdout.write("".join(lines if code else lines[-3:]))
        failed |= code != 0
    print(f"\nboth shards done in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
