"""Probes for load balancers and orchestrators."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

# The worker heartbeat (config.tasks.worker_heartbeat, every 30 s by beat) is stale
# after this long: no worker is consuming, or beat is not running.
HEARTBEAT_KEY = "readyz:worker-heartbeat"
HEARTBEAT_STALE_SECONDS = 120


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. Touches nothing else, so it never flaps."""
    return JsonResponse({"status": "ok"})


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


def _check_worker() -> tuple[bool, str]:
    beat = cache.get(HEARTBEAT_KEY)
    if beat is None:
        return False, "no heartbeat"
    age = time.time() - float(beat)
    if age > HEARTBEAT_STALE_SECONDS:
        return False, f"heartbeat {age:.0f} s old"
    return True, f"heartbeat {age:.0f} s old"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and is fully migrated, the broker
    takes connections, and a worker ran the heartbeat task recently. 503 with
    Retry-After otherwise; the body names what failed (no secrets, no data)."""
    checks: dict[str, Any] = {}
    for name, check in (
        ("database", _check_database),
        ("migrations", _check_migrations),
        ("broker", _check_broker),
        ("worker", _check_worker),
    ):
        ok, detail = check()
        checks[name] = {"ok": ok, "detail": detail}
    ready = all(check["ok"] for check in checks.values())
    response = JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks})
    if not ready:
        response.status_code = 503
        response["Retry-After"] = str(settings.READYZ_RETRY_AFTER_SECONDS)
    return response
