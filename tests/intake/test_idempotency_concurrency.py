"""Concurrent requests on real PostgreSQL connections, one per thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from rest_framework.test import APIClient

from intake.models import IdempotencyKey, Lead, Submission

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/leads/"
THREADS = 6
BODY = {
    "first_name": "Maria",
    "phone": "+12025550143",
    "email": "maria@example.org",
    "article": "science-behind-antidepressants",
}


@pytest.fixture(autouse=True)
def _real_database_and_generous_throttles(settings):
    if connection.vendor == "sqlite":
        pytest.skip("needs concurrent writers: run with DATABASE_URL pointing at PostgreSQL")
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "lead_submit_ip": "1000/hour",
            "lead_submit_phone": "1000/hour",
        },
    }


def at_once(request: Callable[[], tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Run ``request`` in THREADS threads released together; each has its own connection."""
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(request())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_concurrent_duplicates_with_one_key_create_one_lead_and_one_answer():
    def post() -> tuple[int, dict]:
        response = APIClient().post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="same-key")
        return response.status_code, response.json()

    results = at_once(post)

    assert [status for status, _ in results] == [201] * THREADS
    assert len({body["reference"] for _, body in results}) == 1
    assert Lead.objects.count() == 1
    assert Submission.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1


def test_concurrent_first_submissions_by_one_person_attach_to_one_lead():
    def post() -> tuple[int, dict]:
        response = APIClient().post(URL, BODY, format="json")
        return response.status_code, response.json()

    results = at_once(post)

    assert [status for status, _ in results] == [201] * THREADS
    assert len({body["reference"] for _, body in results}) == THREADS
    assert Lead.objects.count() == 1
    assert Submission.objects.filter(lead=Lead.objects.get()).count() == THREADS
