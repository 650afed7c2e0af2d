"""Prometheus metrics: what the web and worker processes count, and what the
database and the broker hold, read at scrape time.

Counted in-process (``prometheus_client`` counters and histograms):

- HTTP requests, by view name, method and status (never by path: paths carry
  references and signed tokens), with their latency;
- Celery tasks, by task name: time waiting in the queue (publish to start),
  run time, and how each run ended (success, retry, failure);
- messages reaching a status, by channel; requests Twilio refused, by HTTP status
  (``notifications.metrics``).

Gunicorn runs several worker processes and Celery forks pool children, so with
``PROMETHEUS_MULTIPROC_DIR`` set every process writes its samples to files there
and an exposition sums them (prometheus_client's multiprocess mode). The
directory is emptied when gunicorn (``gunicorn.conf.py``) or the Celery worker
starts. Without it (development, tests) the samples live in the one process.

Celery's task signals are connected here, when this module is imported: by the web
process with its middleware, by the worker at start (``CELERY_IMPORTS``), both after
Django's settings, because prometheus_client picks its multiprocess mode from
``PROMETHEUS_MULTIPROC_DIR`` when it is imported (and settings may read it from .env).
The counters an app increments live in that app (``notifications.metrics``).

Read at scrape time (:class:`ClinicStateCollector`, cached for
``METRICS_STATE_CACHE_SECONDS``): readiness, the worker heartbeat's age, the
depth of each Celery queue, the coordinators' callback queue, speed-to-lead
breaches and unfinished messages (each a count over a partial index), and the time to
first conversation of the last 24 h with the leads still waiting for one
(``scheduling.selectors.speed``).

No label carries personal data: views are route names, tasks are task names,
channels and statuses are fixed choices.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from celery import Task, signals
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from config.celery import PUBLISHED_AT_HEADER
from config.celery import app as celery_app
from config.health import heartbeat_age, readiness_checks
from intake.models import WebhookDelivery
from notifications.models import Message
from scheduling.models import Callback
from scheduling.selectors import speed as selectors_speed

logger = logging.getLogger(__name__)

# Seconds; from a quick API answer to a slow Twilio call.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Seconds a task waits in the queue: the speed-to-lead promise is minutes.
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TASK_OUTCOMES = {"SUCCESS": "success", "RETRY": "retry", "FAILURE": "failure"}

HTTP_REQUESTS = Counter(
    "clinic_http_requests",
    "HTTP requests answered, by view name, method and status code.",
    ["view", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "clinic_http_request_duration_seconds",
    "Time to answer an HTTP request, by view name, method and status code.",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
CELERY_TASKS = Counter(
    "clinic_celery_tasks",
    "Celery task runs finished, by task name and outcome (success, retry, failure).",
    ["task", "outcome"],
)
CELERY_TASK_QUEUE_WAIT = Histogram(
    "clinic_celery_task_queue_wait_seconds",
    "Time from publishing a task (or its ETA) to a worker starting it, by task name.",
    ["task"],
    buckets=QUEUE_WAIT_BUCKETS,
)
CELERY_TASK_RUNTIME = Histogram(
    "clinic_celery_task_runtime_seconds",
    "Time a task ran on a worker, by task name.",
    ["task"],
    buckets=LATENCY_BUCKETS,
)


# --- Requests -------------------------------------------------------------------------


class RequestMetricsMiddleware:
    """Count and time every request by the name of the view that answered it."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "unresolved"
        method = request.method if request.method in METHODS else "other"
        labels = (view, method, str(response.status_code))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_REQUEST_DURATION.labels(*labels).observe(elapsed)
        return response


# --- Celery tasks ------------------------------------------------------------------------

# Start time of each running task, by task id (a prefork child runs one at a time,
# an eager task runs inside a web request).
_task_started: dict[str, float] = {}


def _timestamp(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return None


def task_started(*, task_id: str, task: Any) -> None:
    """Record the queue wait: from publishing (or the ETA of a countdown or retry,
    whichever is later) to now. Eager tasks are never published and have none."""
    now = time.time()
    _task_started[task_id] = time.perf_counter()
    request = task.request
    published = _timestamp(
        getattr(request, PUBLISHED_AT_HEADER, None)
        or (request.headers or {}).get(PUBLISHED_AT_HEADER)
    )
    if published is None:
        return
    eta = _timestamp(getattr(request, "eta", None))
    ready = max(published, eta) if eta is not None else published
    CELERY_TASK_QUEUE_WAIT.labels(task.name).observe(max(0.0, now - ready))


def task_finished(*, task_id: str, task: Any, state: str | None) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None:
        CELERY_TASK_RUNTIME.labels(task.name).observe(time.perf_counter() - started)
    CELERY_TASKS.labels(task.name, TASK_OUTCOMES.get(state or "", "other")).inc()


@signals.task_prerun.connect
def task_metrics_start(task_id: str, task: Task, **kwargs: Any) -> None:
    task_started(task_id=task_id, task=task)


@signals.task_postrun.connect
def task_metrics_finish(task_id: str, task: Task, state: str | None = None, **kwargs: Any) -> None:
    task_finished(task_id=task_id, task=task, state=state)


# --- Multiprocess mode -----------------------------------------------------------------


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def multiprocess_dir_clean(directory: str) -> None:
    """Empty the samples directory: files left by processes of an earlier run would
    otherwise be summed into this run's counters."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def process_registry() -> CollectorRegistry:
    """The counters and histograms of every process on this host (multiprocess
    mode), or of this process alone."""
    if not multiprocess_dir():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def worker_exporter_start() -> bool:
    """Serve the worker's task metrics on ``WORKER_METRICS_PORT`` (from the main
    worker process, summing its pool children's files). Off when the port is 0."""
    port = settings.WORKER_METRICS_PORT
    if not port:
        return False
    directory = multiprocess_dir()
    if not directory:
        logger.warning(
            "metrics.worker_exporter_disabled",
            extra={"reason": "WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR"},
        )
        return False
    multiprocess_dir_clean(directory)
    start_http_server(port, addr=settings.WORKER_METRICS_ADDRESS, registry=process_registry())
    logger.info("metrics.worker_exporter_started", extra={"port": port})
    return True


@signals.worker_init.connect
def worker_metrics_serve(**kwargs: Any) -> None:
    worker_exporter_start()


# --- What the database and the broker hold ---------------------------------------------


def celery_queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue (not those a worker has reserved).
    Asked of the broker itself, so it works for Redis and RabbitMQ alike. The
    declare is not passive: kombu's Redis transport does not prefix its existence
    check with ``global_keyprefix`` (CELERY_KEY_PREFIX), so a passive declare
    reports a prefixed queue as missing. Declaring with the worker's own queue
    definition is what every worker does at start, so it changes nothing."""
    depths: dict[str, int] = {}
    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        with connection.channel() as channel:
            for queue in celery_app.conf.task_queues:
                declared = queue.bind(channel).queue_declare()
                depths[queue.name] = declared.message_count
    return depths


def _readiness() -> Iterator[GaugeMetricFamily]:
    ready = GaugeMetricFamily(
        "clinic_ready", "1 when the /readyz check passes, by check.", labels=["check"]
    )
    for name, (ok, _detail) in readiness_checks().items():
        ready.add_metric([name], 1.0 if ok else 0.0)
    yield ready
    age = heartbeat_age()
    yield GaugeMetricFamily(
        "clinic_worker_heartbeat_age_seconds",
        "Seconds since a worker last ran the heartbeat task beat sends (+Inf: never).",
        value=float("inf") if age is None else age,
    )


def _queues() -> Iterator[GaugeMetricFamily]:
    depth = GaugeMetricFamily(
        "clinic_celery_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
    )
    for name, size in sorted(celery_queue_depths().items()):
        depth.add_metric([name], float(size))
    yield depth


def _callbacks() -> Iterator[GaugeMetricFamily]:
    now = timezone.now()
    live = Callback.objects.filter(status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED])
    queue = GaugeMetricFamily(
        "clinic_callback_queue_depth",
        "Callbacks in the coordinators' queue, open (waiting) or claimed.",
        labels=["status"],
    )
    counts = dict(live.values_list("status").annotate(n=Count("id")).order_by())
    for status in (Callback.Status.OPEN, Callback.Status.CLAIMED):
        queue.add_metric([status], float(counts.get(status, 0)))
    yield queue
    yield GaugeMetricFamily(
        "clinic_callbacks_past_due",
        "Callbacks in the queue whose due time (first call or retry) has passed.",
        value=float(live.filter(due_at__lte=now).count()),
    )
    yield GaugeMetricFamily(
        "clinic_speed_to_lead_breaches",
        "Callbacks past the speed-to-lead target (their first due time) with no call attempt yet.",
        value=float(live.filter(original_due_at__lte=now, unanswered_attempts=0).count()),
    )


def _messages() -> Iterator[GaugeMetricFamily]:
    unfinished = GaugeMetricFamily(
        "clinic_messages_unfinished",
        "Messages not yet handed to the provider (pending, scheduled, sending), by channel.",
        labels=["channel", "status"],
    )
    statuses = [Message.Status.PENDING, Message.Status.SCHEDULED, Message.Status.SENDING]
    rows = (
        Message.objects.filter(status__in=statuses)
        .values_list("channel", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(channel, status): n for channel, status, n in rows}
    for channel in Message.Channel.values:
        for status in statuses:
            unfinished.add_metric([channel, status], float(counts.get((channel, status), 0)))
    yield unfinished


def _speed_to_conversation() -> Iterator[GaugeMetricFamily]:
    now = timezone.now()
    row = selectors_speed.speed_to_conversation_overall(since=now - timedelta(hours=24), until=now)
    quantiles = GaugeMetricFamily(
        "clinic_time_to_first_conversation_seconds",
        "Time from a request to its first conversation, of the leads first spoken to in the "
        "last 24 h, by quantile (0.5 median, 0.9); NaN with none.",
        labels=["quantile"],
    )
    for quantile, value in (
        ("0.5", row.total.median_seconds if row else None),
        ("0.9", row.total.p90_seconds if row else None),
    ):
        quantiles.add_metric([quantile], float("nan") if value is None else float(value))
    yield quantiles
    yield GaugeMetricFamily(
        "clinic_leads_waiting_for_conversation",
        "Leads with a callback in the queue and no conversation yet.",
        value=float(selectors_speed.leads_waiting_for_conversation()),
    )


def _webhooks() -> Iterator[GaugeMetricFamily]:
    now = timezone.now()
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    yield GaugeMetricFamily(
        "clinic_webhook_deliveries_overdue",
        "Outbound webhook deliveries pending more than 10 minutes past their due time "
        "(nobody is trying them: workers or beat down).",
        value=float(pending.filter(next_attempt_at__lte=now - timedelta(minutes=10)).count()),
    )
    yield GaugeMetricFamily(
        "clinic_webhook_deliveries_failed_24h",
        "Outbound webhook deliveries that failed for good in the last 24 h (refused, or "
        "out of tries).",
        value=float(
            WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.FAILED,
                last_attempt_at__gte=now - timedelta(hours=24),
            ).count()
        ),
    )


class ClinicStateCollector(Collector):
    """Gauges read from the database, the cache and the broker when scraped, kept
    for ``METRICS_STATE_CACHE_SECONDS`` so that several scrapers (or a scraper per
    web instance) cost one round of queries. A source that fails is left out of
    the answer and logged; ``clinic_ready`` says which dependency is down."""

    SOURCES = (
        ("readiness", _readiness),
        ("queues", _queues),
        ("callbacks", _callbacks),
        ("messages", _messages),
        ("speed", _speed_to_conversation),
        ("webhooks", _webhooks),
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: list[GaugeMetricFamily] = []
        self._expires = 0.0

    def forget(self) -> None:
        with self._lock:
            self._expires = 0.0

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() >= self._expires:
                self._families = list(self._read())
                self._expires = time.monotonic() + settings.METRICS_STATE_CACHE_SECONDS
            return list(self._families)

    def _read(self) -> Iterator[GaugeMetricFamily]:
        for name, source in self.SOURCES:
            try:
                families = list(source())
            except Exception as error:  # a database or broker outage: report the rest
                logger.warning(
                    "metrics.source_failed", extra={"source": name, "error": type(error).__name__}
                )
                continue
            yield from families


STATE = ClinicStateCollector()
_state_registry = CollectorRegistry(auto_describe=False)
_state_registry.register(STATE)


def exposition() -> bytes:
    """The text a scraper gets: this host's process samples, then the clinic's state."""
    return generate_latest(process_registry()) + generate_latest(_state_registry)


def metrics_response() -> HttpResponse:
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
