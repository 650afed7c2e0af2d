"""Failures on the real stack: a worker killed mid-send, Redis gone while leads arrive."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from intake.models import Submission
from notifications.models import Message
from notifications.services import message_send
from tests.e2e.conftest import twilio_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(condition, *, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def test_a_worker_killed_mid_send_leaves_every_message_sent_exactly_once(
    real_worker, fake_twilio, celery_processes
):
    # Twilio takes each message but answers late, so the kill lands mid-send.
    fake_twilio.slow(0.3)
    recipients = [f"+1202555{3000 + index:04d}" for index in range(60)]
    for recipient in recipients:
        message_send(
            channel="sms",
            purpose="confirmation",
            recipient=recipient,
            template="confirmation",
            context={"first_name": "Kim", "callback_window": "soon"},
        )
    assert wait_for(lambda: len(fake_twilio.creates) >= 8, timeout=30)

    real_worker.kill9()
    taken_before_restart = len(fake_twilio.creates)
    assert taken_before_restart < len(recipients)
    fake_twilio.slow(0)
    real_worker.start()
    # Beat runs the sweeps: redeliveries are stuck in Redis until the visibility
    # timeout, so the sweep and the provider lookup must make good on their own.
    celery_processes("beat")

    def all_sent() -> bool:
        return Message.objects.filter(status=Message.Status.SENT).count() == len(recipients)

    assert wait_for(all_sent, timeout=90, step=0.5), Counter(
        Message.objects.values_list("status", flat=True)
    )
    sends = Counter(create.form["To"] for create in fake_twilio.creates)
    assert sends == Counter(recipients), {to: n for to, n in sends.items() if n != 1}
    provider_ids = list(Message.objects.values_list("provider_id", flat=True))
    assert len(set(provider_ids)) == len(recipients)
    assert {m["sid"] for m in fake_twilio.messages} == set(provider_ids)


def _local_redis() -> tuple[str, int] | None:
    url = urlsplit(os.environ.get("REDIS_URL", ""))
    if url.hostname in {"127.0.0.1", "localhost"} and shutil.which("redis-server"):
        return url.hostname, url.port or 6379
    return None


def _redis_stop(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], check=False)
    assert wait_for(
        lambda: (
            subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode
            != 0
        ),
        timeout=10,
    )


def _redis_start(port: int) -> None:
    # The same command DEVELOPERS.md gives for this machine.
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=True,
    )
    assert wait_for(
        lambda: (
            subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode
            == 0
        ),
        timeout=20,
    )


def test_leads_taken_while_redis_is_down_are_confirmed_once_it_is_back(
    real_worker, fake_twilio, celery_processes
):
    local = _local_redis()
    if local is None:
        pytest.skip("needs a Redis on this machine that the test may stop and start")
    _host, port = local
    celery_processes("beat")
    client = APIClient()

    _redis_stop(port)
    try:
        answers = [
            client.post(
                "/api/v1/leads/",
                {"first_name": "Lee", "phone": f"+1202555{4000 + index:04d}", "sms_consent": True},
                format="json",
            )
            for index in range(20)
        ]
    finally:
        _redis_start(port)
    back_at = time.monotonic()

    assert [answer.status_code for answer in answers] == [201] * 20
    assert Submission.objects.count() == 20
    assert Submission.objects.filter(processed_at__isnull=True).count() == 20

    def all_confirmed() -> bool:
        return Message.objects.filter(channel="sms", status=Message.Status.SENT).count() == 20

    assert wait_for(all_confirmed, timeout=120, step=0.5), Counter(
        Message.objects.values_list("status", flat=True)
    )
    assert time.monotonic() - back_at < 120
    assert Counter(c.form["To"] for c in fake_twilio.creates) == Counter(
        f"+1202555{4000 + index:04d}" for index in range(20)
    )


def test_the_worker_env_sends_through_the_fake(fake_twilio_server):
    # Guards the fixture wiring the failure tests rely on.
    env = twilio_env(fake_twilio_server)
    assert env["TWILIO_API_BASE"].startswith("http://127.0.0.1:")
    assert env["SMS_BACKEND"] == "twilio"
