"""The production topology: confirmations on their own pool of threads, routing and the
rest on a prefork pool, each consuming only its own queues."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from intake.models import Submission
from notifications.models import Message
from scheduling.models import Callback
from tests.e2e.conftest import twilio_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LEADS = 12


@pytest.fixture
def split_workers(celery_worker_process, celery_processes, fake_twilio, eager_off):
    """Only these consume (the session's worker is stopped, and started again for the
    tests after): a pool of threads on the confirmations queue, as docker-compose's
    worker-confirmations runs it, and a prefork pool on every other queue."""
    celery_worker_process.stop()
    confirming = celery_processes(
        "worker",
        options={"queues": "confirmations", "pool": ("--pool=threads", "--concurrency=8")},
        **twilio_env(fake_twilio),
    )
    routing = celery_processes(
        "worker",
        options={"queues": "notifications,scheduling,default"},
        **twilio_env(fake_twilio),
    )
    return confirming, routing


def test_a_burst_is_confirmed_by_the_pool_of_threads_once_each_and_routed(
    split_workers, fake_twilio
):
    confirming, routing = split_workers
    client = APIClient()
    # Two requests share each number: one text per number, whoever confirms first.
    for index in range(LEADS):
        response = client.post(
            "/api/v1/leads/",
            {
                "first_name": "Sam",
                "phone": f"+1202555{3100 + index // 2:04d}",
                "email": f"sam{index}@example.org",
                "sms_consent": True,
            },
            format="json",
        )
        assert response.status_code == 201

    def done() -> bool:
        return (
            Message.objects.filter(status=Message.Status.SENT).count() == LEADS + LEADS // 2
            and Submission.objects.filter(processed_at__isnull=True).count() == 0
        )

    assert wait_for(done, timeout=30), list(
        Message.objects.values_list("channel", "status", "error_code")
    )
    assert sorted(create.form["To"] for create in fake_twilio.creates) == sorted(
        f"+1202555{3100 + index:04d}" for index in range(LEADS // 2)
    )
    assert Submission.objects.filter(confirmed_at__isnull=True).count() == 0
    assert Callback.objects.count() == LEADS // 2  # two requests per person, one callback
    # Every message moved to its lead once routing attached the request.
    assert not Message.objects.filter(correlation__startswith="submission:").exists()
    # The threads confirmed (and sent) them; the prefork pool ran no confirmation.
    assert confirming.log().count("scheduling.tasks.submission_confirm[") >= LEADS
    assert "Traceback" not in confirming.log()
    assert "scheduling.tasks.submission_confirm[" not in routing.log()
