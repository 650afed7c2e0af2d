"""The Celery application, configured from Django settings (``CELERY_*``)."""

from __future__ import annotations

import logging.config
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import structlog
from celery import Celery, Task, signals
from kombu import Queue
from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


# --- The Redis transport: kombu 5.7's, with a worker crash on a Redis restart fixed ---
#
# When the worker loses Redis with a task in progress (acks_late: its message is
# unacknowledged) while its consumer waits in BRPOP for the next one, celery 5.7's
# Consumer.on_connection_error_after_connected first calls connection.collect(): the
# channel's close fails on the dead BRPOP socket (a ConnectionError, swallowed), and
# collect() then clears the transport's client (transport.client = None). The
# connection.close() that follows closes the same channel again; restoring the
# unacknowledged message builds a new pool from self.connection.client, which is None:
# "AttributeError: 'NoneType' object has no attribute 'hostname'". An AttributeError is
# not a connection error, so it escapes ignore_errors() and the worker exits
# ("Unrecoverable error"). Here a channel whose connection is gone answers with a
# connection error instead, which the close (and a late ack) already handle: the
# message stays in Redis's unacked set, restored after the visibility timeout, and the
# outbox sweeps do not depend on it anyway. tests/e2e/test_failures.py proves it.


#
# Publishing: kombu makes a new redis client (a Redis() over the channel's pool, whose
# __init__ builds its table of response callbacks) for every message it puts, which was
# a fifth of the CPU of publishing a task from a web request (docs/profiles.md, issue
# 24). The channel keeps one over its current pool instead: a channel is used by one
# thread at a time (kombu's pools), and a redis client over a pool is thread-safe anyway.


class RedisChannel(kombu_redis.Channel):
    _put_client: Any = None

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise kombu_redis.redis.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool  # a new one after the channel was closed and its pools dropped
        if self._put_client is None or self._put_client.connection_pool is not pool:
            self._put_client = self._create_client()
        yield self._put_client


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


for _scheme in ("redis", "rediss"):
    kombu_transport.TRANSPORT_ALIASES[_scheme] = "config.celery:RedisTransport"
    kombu_transport._transport_cache.pop(_scheme, None)


app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (
    # A new request's confirmations (settings.CELERY_TASK_ROUTES): I/O-bound, consumed by
    # their own pool of threads (Procfile.dev, docker-compose.yml).
    Queue("confirmations"),
    Queue("notifications"),
    Queue("scheduling"),
    Queue("default"),
)
app.autodiscover_tasks()
# The platform's own tasks (config is not an installed app).
app.autodiscover_tasks(["config"])

# --- Logs: the project's JSON formatter, and the web request's id in task logs ---

REQUEST_ID_HEADER = "request_id"
# When a task message was published (and republished on a retry): its queue wait.
PUBLISHED_AT_HEADER = "published_at"
# Context bound for each running task, keyed by task id, reset when it ends (an
# eager task runs inside the web request and must leave its context as it was).
_task_context: dict[str, Any] = {}
# A stack per task id: an eager task that retries runs again under the same id.
_task_audit: dict[str, list[ExitStack]] = {}


@signals.setup_logging.connect
def logging_configure(**kwargs: Any) -> None:
    """Workers and beat log through ``settings.LOGGING`` (JSON, redacted) instead of
    Celery's own plain format."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def request_id_attach(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Carry the publishing request's (or task's) id in the message headers."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.before_task_publish.connect
def published_at_attach(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Stamp the publish time (set again on a retry) for the queue-wait metric."""
    if headers is not None:
        headers[PUBLISHED_AT_HEADER] = time.time()


@signals.task_prerun.connect
def task_context_bind(task_id: str, task: Task, **kwargs: Any) -> None:
    request = task.request
    request_id = getattr(request, REQUEST_ID_HEADER, None) or (
        (request.headers or {}).get(REQUEST_ID_HEADER) if request.headers else None
    )
    context: dict[str, Any] = {"task_id": task_id, "task_name": task.name}
    if request_id:
        context["request_id"] = request_id
    _task_context[task_id] = structlog.contextvars.bind_contextvars(**context)
    # The audit trail's context: changes the task makes name it. Imported here: this
    # module loads with config/__init__.py, before Django's settings and apps.
    from clinic.audit.events import audit_context

    audit = ExitStack()
    audit.enter_context(
        audit_context(task=task.name, **{k: v for k, v in context.items() if k != "task_name"})
    )
    _task_audit.setdefault(task_id, []).append(audit)


@signals.task_prerun.connect
@signals.task_postrun.connect
def task_connections_tidy(task: Task | None = None, **kwargs: Any) -> None:
    """Around every task a worker runs, drop the database connections that must not be
    reused (broken, left in a transaction, past CONN_MAX_AGE), as Django does around a
    request; the others are kept (settings.CELERY_DB_REUSE_MAX). Not for an eager task:
    it runs inside its caller's transaction and connection."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections  # Django's apps load after this module

    close_old_connections()


@signals.task_postrun.connect
def task_context_reset(task_id: str, **kwargs: Any) -> None:
    audits = _task_audit.get(task_id)
    if audits:
        audits.pop().close()
        if not audits:
            del _task_audit[task_id]
    tokens = _task_context.pop(task_id, None)
    if tokens:
        structlog.contextvars.reset_contextvars(**tokens)
