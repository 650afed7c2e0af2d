"""A canary lead goes through the whole flow on the real stack (a worker on Redis,
the real twilio client against the fake), and its personal data turns up nowhere it
should not: not in the web process's logs, not in the worker's log, not in any
message on the broker, and not in the SMS beyond the first name."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from intake.models import Submission
from notifications.models import Message
from scheduling.models import Callback

# The end-to-end fixtures (a real worker on Redis) come from tests/e2e/conftest.py;
# importing them here would start a second session worker.
from tests.e2e.conftest import KEY_PREFIX
from tests.factories import UserFactory
from tests.signin import verified_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(condition, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class BrokerTap:
    """Every command the broker's Redis receives for this run's keys (MONITOR), so
    messages published by the web process and by the worker are both seen, even
    the ones consumed a millisecond later."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BrokerTap:
        self._ready = threading.Event()
        self._thread.start()
        assert self._ready.wait(5), "MONITOR did not start"
        return self

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            while not self._stop.is_set():
                command = monitor.next_command()["command"]
                if KEY_PREFIX in command:
                    self.commands.append(command)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.client.ping()  # wakes the monitor so that it sees the stop flag
        self._thread.join(5)

    def messages(self) -> list[dict]:
        """The task messages pushed to the queues, bodies decoded."""
        found = []
        for command in self.commands:
            # redis-py joins the arguments with spaces and unquotes them.
            verb, _key, payload = [*command.split(" ", 2), "", ""][:3]
            if verb.upper() != "LPUSH":
                continue
            envelope = json.loads(payload.encode("latin-1").decode("unicode_escape"))
            envelope["decoded_body"] = base64.b64decode(envelope["body"]).decode()
            found.append(envelope)
        return found


@pytest.fixture
def rendered_logs():
    """The web process's log lines as the project's formatter renders them (JSON,
    redacted), next to pytest's caplog (the raw records, before redaction)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_a_canary_lead_leaves_no_personal_data_behind(
    real_worker,
    fake_twilio,
    caplog,
    rendered_logs,
):
    caplog.set_level(logging.DEBUG)
    mark = uuid.uuid4().hex[:8]
    # Names are letters only (the form refuses digits in a name).
    letters = "".join(chr(ord("a") + int(char, 16)) for char in mark)
    canary = {
        "first_name": f"Canaryfirst{letters}",
        "last_name": f"Canarylast{letters}",
        "phone": f"+1202555{int(mark, 16) % 10000:04d}",
        "email": f"canary-{mark}@example.org",
        "message": f"canary worry {mark} about sleep",
    }
    secrets = [canary["last_name"], canary["phone"], canary["email"], canary["message"]]
    everything = [canary["first_name"], *secrets, mark]
    request_id = f"request-{uuid.uuid4().hex}"  # not a canary: it must reach the worker

    with BrokerTap(settings.CELERY_BROKER_URL) as tap:
        response = APIClient().post(
            "/api/v1/leads/",
            {**canary, "sms_consent": True, "article": "science-behind-antidepressants"},
            format="json",
            HTTP_X_REQUEST_ID=request_id,
        )
        assert response.status_code == 201, response.content
        assert response["X-Request-ID"] == request_id
        submission = Submission.objects.get(reference=response.json()["reference"])

        def confirmed() -> bool:
            # The worker attaches the lead; the messages are correlated with it.
            lead_id = Submission.objects.values_list("lead_id", flat=True).get(pk=submission.pk)
            sent = Message.objects.filter(correlation=f"lead:{lead_id}", status="sent")
            return sent.count() == 2 and Callback.objects.filter(submission=submission).exists()

        assert wait_for(confirmed, timeout=15), real_worker.log()[-3000:]

        # A coordinator works the callback: reads it, logs an attempt.
        coordinator = UserFactory(username=f"canary-coordinator-{mark}")
        coordinator.groups.add(Group.objects.get_or_create(name="coordinator")[0])
        staff = APIClient()
        verified_login(staff, coordinator)
        claimed = staff.post("/api/v1/callbacks/claim-next/")
        assert claimed.status_code == 200, claimed.content
        callback_id = claimed.json()["id"]
        attempt = staff.post(
            f"/api/v1/callbacks/{callback_id}/attempts/",
            {"outcome": "no_answer", "notes": f"left no voicemail {mark}"},
            format="json",
        )
        assert attempt.status_code in (200, 201), attempt.content
        time.sleep(1)  # whatever the attempt published reaches the worker's log

    # The web process's logs: neither the raw records nor the rendered lines.
    raw = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    rendered = rendered_logs.getvalue()
    assert "request.finished" in rendered
    for value in [*secrets, canary["first_name"]]:
        assert value not in raw, f"{value!r} in a web log record"
        assert value not in rendered, f"{value!r} in a rendered web log line"

    # The worker's log, which carries the web request's id into its tasks.
    worker_log = real_worker.log()
    for value in everything:
        assert value not in worker_log, f"{value!r} in the worker's log"
    assert request_id in worker_log

    # Every message on the broker: ids only.
    messages = tap.messages()
    tasks = {message["headers"]["task"] for message in messages}
    assert "scheduling.tasks.submissions_route_batch" in tasks
    assert any(task.startswith("notifications.") for task in tasks)
    for message in messages:
        for value in everything:
            assert value not in json.dumps(message), f"{value!r} in {message['headers']['task']}"
    assert any(message["headers"].get("request_id") == request_id for message in messages)

    # The texts (the confirmation, "we tried to reach you") say nothing of theirs, not
    # even the first name: nobody verified the number or confirmed the name.
    bodies = [request.form["Body"] for request in fake_twilio.creates]
    assert bodies
    for body in bodies:
        for value in [*secrets, canary["first_name"]]:
            assert value not in body
