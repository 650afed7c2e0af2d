"""A stage change reaches the clinic's EMR through a real worker on Redis: the change
queues its delivery after commit, a worker process started with ``WEBHOOK_URLS`` and
``WEBHOOK_SECRET`` sends it signed to a local HTTP server, and the log says delivered
(issue 25, item 6)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from intake.models import Lead, WebhookDelivery
from intake.services import lead_stage_advance
from tests.e2e.conftest import wait_for
from tests.factories import submit_lead
from tests.intake.test_webhooks import SECRET, Receiver, _serve, _verify

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def emr() -> Iterator[Receiver]:
    """A local HTTP server noting what it receives (as tests/intake/test_webhooks.py's)."""
    httpd, receiver = _serve()
    yield receiver
    httpd.shutdown()
    httpd.server_close()


def test_an_admitted_lead_is_sent_signed_to_the_emr_by_a_worker(
    celery_worker_process, celery_processes, eager_off, emr, settings
):
    url = f"{emr.url}/emr"
    settings.WEBHOOK_ENDPOINTS = [{"url": url, "covered": False}]
    settings.WEBHOOK_SECRET = SECRET
    # Only the worker under test consumes (the session's is started again for the others).
    celery_worker_process.stop()
    worker = celery_processes("worker", WEBHOOK_URLS=url, WEBHOOK_SECRET=SECRET)
    lead_id = submit_lead(first_name="Rosalind", email="rosalind.quill@example.org").lead_id

    lead_stage_advance(lead_id=lead_id, stage=Lead.Stage.ADMITTED)

    assert wait_for(lambda: len(emr.received) >= 1, timeout=30), worker.log()[-3000:]
    received = emr.received[0]
    body = json.loads(received.body)
    assert _verify(received)
    assert received.headers["X-Clinic-Event-Id"] == body["id"]
    assert (body["type"], body["stage"], body["lead"]["id"]) == (
        "lead.stage_reached",
        "admitted",
        lead_id,
    )
    assert "Rosalind" not in received.body.decode() and "quill" not in received.body.decode()

    def delivered() -> bool:
        return WebhookDelivery.objects.filter(
            lead_id=lead_id, stage="admitted", status=WebhookDelivery.Status.DELIVERED
        ).exists()

    assert wait_for(delivered, timeout=10), worker.log()[-3000:]
