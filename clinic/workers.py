"""Handing work to the Celery workers, by task name.

A service enqueues the work whose state it has just made durable by naming the task
(``"scheduling.tasks.submission_process"``), never by importing its module: a tasks
module imports the services it runs, so a service importing it back made a cycle.
The name is looked up in the current Celery app's registry (each app's
``AppConfig.ready`` imports its tasks module, so the web process knows them too),
which keeps eager mode in tests running the task at once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import current_app

logger = logging.getLogger(__name__)

# What a publish may skip, as the web's hand-off publishes on every request (issue 24,
# docs/profiles.md): no queue is declared per message (``declare``: the workers declare
# theirs when they start, and the routes name queues, which Celery publishes to through
# the anonymous exchange, straight into the queue's list whatever the bindings), and the
# arguments' repr is taken as it is (``argsrepr``: ids, whose repr is what Celery's
# saferepr would give, at a fraction of its cost).
PUBLISH_OPTIONS = {"declare": [], "kwargsrepr": "{}"}


def enqueue(task_name: str, *args: int, eta: datetime | None = None) -> bool:
    """Publish the task named ``task_name`` with ids as arguments, to run at once or at
    ``eta``. A broker outage is logged, never raised: callers enqueue work whose state
    is already durable in the database, and a periodic sweep (or a timeout of its own)
    makes up for it later. A name no app registered is a programming error, and raises
    ``KeyError``."""
    task = current_app.tasks[task_name]
    try:
        task.apply_async(args, eta=eta, **PUBLISH_OPTIONS, argsrepr=repr(args))
    except Exception:  # kombu raises many types; any of them means "not queued".
        logger.warning("celery.enqueue_failed", extra={"task": task_name})
        return False
    return True
