"""A real Celery worker process on a real Redis broker, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]
QUEUES = ",".join(queue.name for queue in celery_app.conf.task_queues)


def require_real_stack() -> None:
    """Skip loudly without PostgreSQL and Redis; under CI a skip is a failure."""
    problems = []
    if not os.environ.get("REDIS_URL"):
        problems.append("REDIS_URL is not set")
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if not problems:
        try:
            with celery_app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            problems.append(f"Redis at REDIS_URL is unreachable ({type(error).__name__})")
    if problems:
        reason = (
            "END-TO-END TESTS NOT RUN: they need a real worker on Redis and PostgreSQL; "
            + "; ".join(problems)
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)


def _worker_env() -> dict[str, str]:
    database = urlsplit(os.environ["DATABASE_URL"])
    test_database = urlunsplit(database._replace(path=f"/{connection.settings_dict['NAME']}"))
    return {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": test_database,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SMS_BACKEND": "console",
    }


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[str]:
    """Start ``celery worker`` as its own process; yield its node name."""
    require_real_stack()
    celery_app.control.purge()
    node = f"e2e-{os.getpid()}@localhost"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                QUEUES,
                "-n",
                node,
            ],
            cwd=BASE_DIR,
            env=_worker_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[node], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Celery worker did not start:\n{log_path.read_text()[-3000:]}")
        yield node
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def real_worker(celery_worker_process) -> Iterator[str]:
    """Tasks published from this test go to Redis and run in the worker process."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield celery_worker_process
    finally:
        celery_app.conf.task_always_eager = previous
