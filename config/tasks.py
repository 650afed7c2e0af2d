"""Tasks of the platform itself, not of an app."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

from config.health import HEARTBEAT_KEY


@shared_task(ignore_result=True)
def worker_heartbeat() -> None:
    """Beat sends this every 30 s; the worker that runs it proves, for /readyz, that
    beat schedules, the broker delivers and a worker consumes."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=3600)
