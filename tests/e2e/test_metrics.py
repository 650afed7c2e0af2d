"""Metrics from real processes: a Celery worker on Redis serves its pool children's
task metrics (multiprocess mode), and queue depth is read from the broker."""

from __future__ import annotations

import os
import socket
import time
import urllib.request

import pytest
from kombu import Queue
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from config import metrics
from config.celery import app as celery_app
from config.tasks import worker_heartbeat
from notifications.models import Message
from tests.e2e.conftest import require_real_stack, twilio_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_worker_serves_queue_wait_run_time_and_outcomes_of_its_pool(
    celery_worker_process, celery_processes, fake_twilio, eager_off, tmp_path
):
    celery_worker_process.stop()  # only the worker under test consumes (restarted for others)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    stale = directory / "counter_99999.db"
    stale.write_bytes(b"samples of an earlier run")
    port = free_port()
    celery_processes(
        "worker",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        WORKER_METRICS_PORT=str(port),
        **twilio_env(fake_twilio),
    )
    assert not stale.exists()

    response = APIClient().post(
        "/api/v1/leads/",
        {"first_name": "Maria", "phone": "+12025550143", "sms_consent": True},
        format="json",
    )
    assert response.status_code == 201
    deadline = time.monotonic() + 20
    while not Message.objects.filter(channel="sms", status="sent").exists():
        assert time.monotonic() < deadline, "the SMS was not sent"
        time.sleep(0.1)

    routed = "scheduling.tasks.submissions_route_batch"
    delivered = "notifications.tasks.message_deliver"
    samples: dict = {}
    while time.monotonic() < deadline:  # the pool child records right after the task returns
        samples = scrape(port)
        # The router is kicked by the confirmation task and may run after the delivery.
        if all(
            samples.get(
                (
                    "clinic_celery_tasks_total",
                    frozenset({"task": task, "outcome": "success"}.items()),
                )
            )
            for task in (delivered, routed)
        ):
            break
        time.sleep(0.1)
    wait = ("clinic_celery_task_queue_wait_seconds_count", frozenset({("task", routed)}))
    assert samples.get(wait) == 1
    assert (
        samples[("clinic_celery_task_queue_wait_seconds_sum", frozenset({("task", routed)}))] < 20
    )
    assert (
        samples.get(("clinic_celery_task_runtime_seconds_count", frozenset({("task", routed)})))
        == 1
    )
    success = frozenset({("task", routed), ("outcome", "success")})
    assert samples.get(("clinic_celery_tasks_total", success)) == 1
    sent = frozenset({("channel", "sms"), ("status", "sent")})
    assert samples.get(("clinic_messages_total", sent)) == 1


def test_queue_depth_counts_the_tasks_waiting_in_a_queue(eager_off, monkeypatch):
    require_real_stack()
    name = f"metrics-probe-{os.getpid()}"
    queues = (*celery_app.conf.task_queues, Queue(name))
    monkeypatch.setitem(celery_app.conf, "task_queues", queues)
    assert metrics.celery_queue_depths()[name] == 0
    try:
        for _ in range(3):
            worker_heartbeat.apply_async(queue=name)
        assert metrics.celery_queue_depths()[name] == 3
    finally:
        with celery_app.connection_for_write() as connection, connection.channel() as channel:
            channel.queue_purge(name)
    assert metrics.celery_queue_depths()[name] == 0
