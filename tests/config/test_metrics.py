"""GET /metrics: who may scrape it, and that a lead's journey moves the counters and
gauges Prometheus alerts on, with no personal data anywhere in the answer."""

from __future__ import annotations

import re
import runpy
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from clinic import roles
from config import metrics
from config.tasks import worker_heartbeat
from notifications.models import Message
from scheduling.models import Callback
from tests.factories import UserFactory
from tests.fake_twilio import FakeTwilio
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"
REPO = Path(__file__).resolve().parents[2]
LEAD = {
    "first_name": "Maria",
    "last_name": "Lopez",
    "phone": "(202) 555-0143",
    "email": "Maria.Lopez@Example.org",
    "sms_consent": True,
    "article": "science-behind-antidepressants",
    "message": "Please call after work",
}


@pytest.fixture(autouse=True)
def metrics_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    metrics.STATE.forget()
    yield
    metrics.STATE.forget()


def scrape(client: Client | None = None) -> tuple[dict[tuple[str, frozenset], float], str]:
    """Every sample of a scrape, by (name, labels), and the raw text."""
    metrics.STATE.forget()
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return samples, text


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def role_user(role: str):
    user = UserFactory(username=f"metrics-{role}")
    user.groups.add(Group.objects.get(name=role))
    return user


# --- Who may scrape ------------------------------------------------------------------


def test_prometheus_scrapes_with_the_bearer_token_from_any_host_name():
    response = Client().get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_HOST="10.0.0.7:8000"
    )
    assert response.status_code == 200
    assert b"# TYPE clinic_http_requests_total counter" in response.content


def test_a_wrong_token_gets_401_and_no_metrics(settings):
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"clinic_" not in response.content


def test_no_token_configured_refuses_every_bearer(settings):
    settings.METRICS_TOKEN = ""
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


def test_without_a_token_only_a_signed_in_admin_may_read_it():
    assert Client().get("/metrics").status_code == 302
    for role, expected in ((roles.COORDINATOR, 403), (roles.MARKETING, 403), (roles.ADMIN, 200)):
        client = Client()
        verified_login(client, role_user(role))
        assert client.get("/metrics").status_code == expected, role


# --- A lead's journey moves the numbers ------------------------------------------------------


def test_a_lead_flow_moves_requests_tasks_messages_and_callback_gauges(
    api_client, django_capture_on_commit_callbacks
):
    before, _ = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/leads/", LEAD, format="json")
    assert response.status_code == 201
    after, text = scrape()

    submitted = {"view": "api:lead-submit", "method": "POST", "status": "201"}
    assert value(after, "clinic_http_requests_total", **submitted) == (
        value(before, "clinic_http_requests_total", **submitted) + 1
    )
    assert value(after, "clinic_http_request_duration_seconds_count", **submitted) == (
        value(before, "clinic_http_request_duration_seconds_count", **submitted) + 1
    )
    assert value(after, "clinic_http_request_duration_seconds_sum", **submitted) > value(
        before, "clinic_http_request_duration_seconds_sum", **submitted
    )
    # The routing task and the two deliveries ran (eagerly here) and succeeded.
    for task, runs in (
        ("scheduling.tasks.submissions_route_batch", 1),
        ("notifications.tasks.message_deliver", 2),
    ):
        ran = {"task": task, "outcome": "success"}
        assert value(after, "clinic_celery_tasks_total", **ran) == (
            value(before, "clinic_celery_tasks_total", **ran) + runs
        ), task
        assert value(after, "clinic_celery_task_runtime_seconds_count", task=task) == (
            value(before, "clinic_celery_task_runtime_seconds_count", task=task) + runs
        ), task
    for channel in ("sms", "email"):
        for status in ("pending", "sent"):
            assert value(after, "clinic_messages_total", channel=channel, status=status) == (
                value(before, "clinic_messages_total", channel=channel, status=status) + 1
            ), (channel, status)
    assert value(after, "clinic_callback_queue_depth", status="open") == 1
    assert value(after, "clinic_callbacks_past_due") == 0
    assert value(after, "clinic_speed_to_lead_breaches") == 0

    # Nothing that names the person, or the submission, is in the answer.
    reference = response.json()["reference"]
    for personal in ("Maria", "Lopez", "555-0143", "5550143", "example.org", "after work"):
        assert personal.lower() not in text.lower()
    assert reference not in text


def test_an_uncalled_callback_past_its_due_time_is_a_speed_to_lead_breach(
    api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/api/v1/leads/", LEAD, format="json")
    callback = Callback.objects.get()
    with time_machine.travel(callback.original_due_at + timedelta(minutes=1)):
        samples, _ = scrape()
    assert value(samples, "clinic_callbacks_past_due") == 1
    assert value(samples, "clinic_speed_to_lead_breaches") == 1

    # A first attempt that did not reach the person: past due again later, no breach.
    Callback.objects.filter(pk=callback.pk).update(
        unanswered_attempts=1, due_at=callback.original_due_at + timedelta(hours=2)
    )
    with time_machine.travel(callback.original_due_at + timedelta(minutes=1)):
        samples, _ = scrape()
    assert value(samples, "clinic_callbacks_past_due") == 0
    assert value(samples, "clinic_speed_to_lead_breaches") == 0


def test_unfinished_messages_are_counted_by_channel_and_status():
    Message.objects.create(
        channel="sms", purpose="reminder", recipient="+12025550143", body="x", status="scheduled"
    )
    Message.objects.create(
        channel="email", purpose="reminder", recipient="a@example.org", body="x", status="sent"
    )
    samples, _ = scrape()
    assert value(samples, "clinic_messages_unfinished", channel="sms", status="scheduled") == 1
    assert value(samples, "clinic_messages_unfinished", channel="email", status="pending") == 0
    assert value(samples, "clinic_messages_unfinished", channel="email", status="sent") == 0


def test_an_unknown_path_is_counted_without_its_path():
    Client().get("/api/v1/leads/R-SECRET-REFERENCE/nowhere/")
    samples, text = scrape()
    assert "R-SECRET-REFERENCE" not in text
    unresolved = {"view": "unresolved", "method": "GET", "status": "404"}
    assert value(samples, "clinic_http_requests_total", **unresolved) >= 1


def test_twilio_refusals_are_counted_by_http_status(fake_twilio: FakeTwilio, settings):
    from notifications.backends import SmsRequest, TransportError, TwilioSmsBackend

    before, _ = scrape()
    fake_twilio.fail_next(status=429, code=20429)
    with pytest.raises(TransportError):
        TwilioSmsBackend().send(SmsRequest(to="+12025550143", body="Hi"))
    after, text = scrape()
    assert value(after, "clinic_twilio_errors_total", status="429") == (
        value(before, "clinic_twilio_errors_total", status="429") + 1
    )
    assert "+12025550143" not in text


# --- Readiness, heartbeat and tasks ------------------------------------------------------


def test_readiness_and_the_worker_heartbeat_are_exported():
    samples, _ = scrape()
    assert value(samples, "clinic_ready", check="database") == 1
    assert value(samples, "clinic_ready", check="worker") == 0
    assert value(samples, "clinic_worker_heartbeat_age_seconds") == float("inf")

    worker_heartbeat()
    samples, _ = scrape()
    assert value(samples, "clinic_ready", check="worker") == 1
    assert 0 <= value(samples, "clinic_worker_heartbeat_age_seconds") < 5


def test_every_celery_queue_has_a_depth():
    from config.celery import app

    samples, _ = scrape()
    for queue in app.conf.task_queues:
        assert ("clinic_celery_queue_depth", frozenset({("queue", queue.name)})) in samples


def test_scrapes_within_the_cache_time_reuse_the_database_readings(
    settings, django_assert_num_queries
):
    settings.METRICS_STATE_CACHE_SECONDS = 60
    metrics.STATE.forget()
    list(metrics.STATE.collect())
    with django_assert_num_queries(0):
        list(metrics.STATE.collect())


def test_a_failing_source_leaves_the_others_in_the_answer(monkeypatch):
    def broken():
        raise ConnectionError("broker down")

    monkeypatch.setattr(
        metrics.ClinicStateCollector,
        "SOURCES",
        (("queues", broken), *metrics.ClinicStateCollector.SOURCES[2:]),
    )
    collector = metrics.ClinicStateCollector()
    names = {family.name for family in collector.collect()}
    assert "clinic_celery_queue_depth" not in names
    assert {"clinic_callback_queue_depth", "clinic_speed_to_lead_breaches"} <= names


def test_queue_wait_runs_from_publish_or_eta_to_start():
    name = "tests.metrics.queue_wait_probe"

    def task(**request):
        return SimpleNamespace(name=name, request=SimpleNamespace(headers={}, **request))

    metrics.task_started(task_id="a", task=task(published_at=time.time() - 3))
    metrics.task_finished(task_id="a", task=task(), state="SUCCESS")
    # Retried with a countdown: the wait starts at the ETA, not at the publish.
    eta = datetime.fromtimestamp(time.time() - 1, tz=UTC).isoformat()
    metrics.task_started(task_id="b", task=task(published_at=time.time() - 60, eta=eta))
    metrics.task_finished(task_id="b", task=task(), state="RETRY")
    samples, _ = scrape()
    assert value(samples, "clinic_celery_task_queue_wait_seconds_count", task=name) == 2
    total = value(samples, "clinic_celery_task_queue_wait_seconds_sum", task=name)
    assert 3.9 <= total < 10
    assert value(samples, "clinic_celery_tasks_total", task=name, outcome="success") == 1
    assert value(samples, "clinic_celery_tasks_total", task=name, outcome="retry") == 1


# --- Processes ------------------------------------------------------------------------------


def test_gunicorn_empties_the_samples_directory_when_it_starts(tmp_path, monkeypatch):
    stale = tmp_path / "counter_1234.db"
    stale.write_bytes(b"old run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    hooks = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    hooks["on_starting"](None)
    assert not stale.exists()


def test_the_worker_exporter_stays_off_without_a_port_or_a_directory(settings, monkeypatch):
    settings.WORKER_METRICS_PORT = 0
    assert metrics.worker_exporter_start() is False
    settings.WORKER_METRICS_PORT = 9
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert metrics.worker_exporter_start() is False


def test_the_scrape_time_counts_are_answered_from_partial_indexes():
    """On PostgreSQL each gauge's query can use an index over the live rows only (the
    planner is told to avoid table scans, as it would on a large table)."""
    from django.db import connection
    from django.utils import timezone

    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    now = timezone.now()
    live = Callback.objects.filter(status__in=["open", "claimed"])
    live_indexes = ("callback_queue", "callback_ready", "callback_ready_due")
    queries = [
        (live.filter(due_at__lte=now), live_indexes),
        (live.filter(original_due_at__lte=now, unanswered_attempts=0), live_indexes),
        (live, live_indexes),
        (
            Message.objects.filter(status__in=["pending", "scheduled", "sending"]),
            ("message_unfinished",),
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for queryset, indexes in queries:
            sql, params = queryset.order_by().values("id").query.sql_with_params()
            explain = f"EXPLAIN SELECT count(*) FROM ({sql}) AS counted"  # noqa: S608 (ORM SQL)
            cursor.execute(explain, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, plan
            assert any(re.search(rf"Index.* (?:using|on) {index}\b", plan) for index in indexes), (
                plan
            )
