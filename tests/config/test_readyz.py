from __future__ import annotations

import pytest
from django.core.cache import cache

from config.celery import app as celery_app
from config.health import HEARTBEAT_KEY
from config.tasks import worker_heartbeat

pytestmark = pytest.mark.django_db

COMPONENTS = ("database", "migrations", "broker", "worker")
TOKEN = "a-long-random-metrics-token-for-the-readyz-tests-0123456789"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.fixture
def with_token():
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture
def readyz_rate(settings):
    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "readyz_ip": rate,
            },
        }

    return set_rate


@pytest.fixture
def broker_down():
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"  # nothing listens there
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous


def test_ready_when_database_migrations_broker_and_a_worker_answer(client, with_token):
    worker_heartbeat()

    response = client.get("/readyz", **with_token)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == set(COMPONENTS)


def test_not_ready_without_a_worker_heartbeat(client, with_token):
    cache.delete(HEARTBEAT_KEY)

    response = client.get("/readyz", **with_token)

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json()["checks"]["worker"] == {"ok": False, "detail": "no heartbeat"}


def test_a_stale_heartbeat_is_not_ready(client, with_token):
    cache.set(HEARTBEAT_KEY, 0)
    assert client.get("/readyz", **with_token).json()["checks"]["worker"]["ok"] is False


def test_not_ready_when_the_broker_is_down(client, broker_down, with_token):
    worker_heartbeat()

    response = client.get("/readyz", **with_token)

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_a_probe_by_ip_address_gets_an_answer_not_a_400(client):
    worker_heartbeat()
    response = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200


# --- Who sees what ---------------------------------------------------------------------


def test_an_anonymous_caller_gets_the_status_and_no_component_names(client):
    worker_heartbeat()

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not any(name in response.content.decode() for name in COMPONENTS)


def test_an_anonymous_caller_learns_only_that_it_is_unavailable(client, broker_down):
    worker_heartbeat()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == {"status": "unavailable"}
    assert not any(name in response.content.decode() for name in COMPONENTS)


def test_a_wrong_or_missing_token_is_anonymous(client, settings):
    worker_heartbeat()
    assert client.get("/readyz", HTTP_AUTHORIZATION="Bearer wrong").json() == {"status": "ok"}
    settings.METRICS_TOKEN = ""  # no token configured: an empty bearer opens nothing
    assert client.get("/readyz", HTTP_AUTHORIZATION="Bearer ").json() == {"status": "ok"}


def test_a_signed_in_staff_member_gets_the_details(client, marketer):
    worker_heartbeat()
    client.force_login(marketer)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert set(response.json()["checks"]) == set(COMPONENTS)


def test_a_signed_in_user_without_a_staff_role_gets_no_details(client, django_user_model):
    worker_heartbeat()
    client.force_login(django_user_model.objects.create_user("no-role", password="x" * 16))

    assert client.get("/readyz").json() == {"status": "ok"}


# --- Throttle --------------------------------------------------------------------------


def test_anonymous_callers_past_the_rate_get_429(client, readyz_rate, with_token):
    readyz_rate("3/minute")
    worker_heartbeat()

    answers = [client.get("/readyz").status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    throttled = client.get("/readyz")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert throttled.json()["code"] == "throttled"
    # Per client address: another one, and the scraper with the token, still get answers.
    assert client.get("/readyz", REMOTE_ADDR="10.0.0.9").status_code == 200
    assert client.get("/readyz", **with_token).status_code == 200


def test_the_default_rate_lets_a_probe_every_second_through(settings):
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["readyz_ip"]
    count, _, period = rate.partition("/")
    assert period == "minute" and int(count) >= 60
