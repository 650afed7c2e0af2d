"""The Celery application, configured from Django settings (``CELERY_*``)."""

from __future__ import annotations

import logging
import os

from celery import Celery, Task
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (
    Queue("notifications"),
    Queue("scheduling"),
    Queue("default"),
)
app.autodiscover_tasks()


def enqueue(task: Task, *args: int) -> bool:
    """Publish ``task`` with ids as arguments. A broker outage is logged, never
    raised: callers enqueue work whose state is already durable in the database,
    and a periodic sweep publishes it again later."""
    try:
        task.delay(*args)
    except Exception:  # kombu raises many types; any of them means "not queued".
        logger.warning("celery.enqueue_failed", extra={"task": task.name})
        return False
    return True
