"""A worker keeps its PostgreSQL connection from one task to the next
(``CELERY_DB_REUSE_MAX``, with ``config.celery.task_connections_tidy`` dropping a
broken or old one around each task): Celery's Django fixup otherwise closes it
before and after every task, so each task opened a new backend."""

from __future__ import annotations

import pytest
from django.db import connection

from intake.tasks import idempotency_keys_prune
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TASKS = 5


def _other_backends() -> set[int]:
    """The backends on the test database other than this test's own connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_a_worker_runs_its_tasks_on_one_database_connection(
    celery_worker_process, celery_processes, eager_off
):
    # Only the worker under test connects (the session's is started again for the others).
    celery_worker_process.stop()
    # Taken before the worker starts: it may connect at once, for a task an earlier
    # test left in the queue.
    before = _other_backends()
    worker = celery_processes("worker", options={"pool": ("--concurrency=1",)})
    seen: list[set[int]] = []

    for done in range(1, TASKS + 1):
        idempotency_keys_prune.delay()
        assert wait_for(lambda done=done: worker.log().count("succeeded in") >= done, timeout=20), (
            worker.log()[-3000:]
        )
        seen.append(_other_backends() - before)

    assert all(len(backends) == 1 for backends in seen), seen
    assert len(set().union(*seen)) == 1, seen  # the same backend for every task
