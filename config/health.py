"""What /readyz checks, and the metrics' readiness gauges read: the database answers
and is fully migrated, the broker takes connections, and a worker ran the heartbeat
task beat sends (``config.tasks.worker_heartbeat``) recently."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from config.celery import app as celery_app

# The worker heartbeat (config.tasks.worker_heartbeat, every 30 s by beat) is stale
# after this long: no worker is consuming, or beat is not running.
HEARTBEAT_KEY = "readyz:worker-heartbeat"
HEARTBEAT_STALE_SECONDS = 120


def _check_database() -> tuple[bool, str]:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any driver error means "not ready"
        return False, type(error).__name__
    return True, "ok"


def _check_migrations() -> tuple[bool, str]:
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return False, type(error).__name__
    return (not pending, "ok" if not pending else f"{len(pending)} unapplied")


def _check_broker() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:  # kombu raises many types
        return False, type(error).__name__
    return True, "ok"


def heartbeat_age() -> float | None:
    """Seconds since a worker last ran ``config.tasks.worker_heartbeat``; None if never."""
    beat = cache.get(HEARTBEAT_KEY)
    return None if beat is None else max(0.0, time.time() - float(beat))


def _check_worker() -> tuple[bool, str]:
    age = heartbeat_age()
    if age is None:
        return False, "no heartbeat"
    if age > HEARTBEAT_STALE_SECONDS:
        return False, f"heartbeat {age:.0f} s old"
    return True, f"heartbeat {age:.0f} s old"


def readiness_checks() -> dict[str, tuple[bool, str]]:
    """Each readiness check by name: (passed, what was found)."""
    return {
        "database": _check_database(),
        "migrations": _check_migrations(),
        "broker": _check_broker(),
        "worker": _check_worker(),
    }
