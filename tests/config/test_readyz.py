from __future__ import annotations

import pytest
from django.core.cache import cache

from config.celery import app as celery_app
from config.tasks import worker_heartbeat
from config.views import HEARTBEAT_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"  # nothing listens there
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous


def test_ready_when_database_migrations_broker_and_a_worker_answer(client):
    worker_heartbeat()

    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {
        "database",
        "migrations",
        "broker",
        "worker",
    }


def test_not_ready_without_a_worker_heartbeat(client):
    cache.delete(HEARTBEAT_KEY)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json()["checks"]["worker"] == {"ok": False, "detail": "no heartbeat"}


def test_a_stale_heartbeat_is_not_ready(client):
    cache.set(HEARTBEAT_KEY, 0)
    assert client.get("/readyz").json()["checks"]["worker"]["ok"] is False


def test_not_ready_when_the_broker_is_down(client, broker_down):
    worker_heartbeat()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_a_probe_by_ip_address_gets_an_answer_not_a_400(client):
    worker_heartbeat()
    response = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
