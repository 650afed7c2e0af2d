"""Failures on the real stack: a worker killed mid-send, Redis gone while leads arrive,
Redis restarted under a running worker.

Every test here runs on its own redis-server (bench/services.py, a free port, no
persistence): the app in this process, the worker and beat all point at it, so stopping
and restarting it never touches the machine's Redis (nor its PostgreSQL, which holds
only the test database here and is never stopped). ``machine_services_untouched``
fails the run if either of the machine's servers was restarted while it ran.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django.test import override_settings
from kombu import Connection
from rest_framework.test import APIClient

from bench.services import Redis, missing_tools, wait_until
from clinic.workers import enqueue
from config.celery import app as celery_app
from config.health import HEARTBEAT_KEY
from config.tasks import worker_heartbeat
from intake.models import Submission
from notifications.models import Message
from notifications.services import message_send
from tests.e2e.conftest import (
    FAST_SWEEPS,
    KEY_PREFIX,
    CeleryProcess,
    _machine_servers,
    celery_broker,
    process_env,
    require_real_stack,
    twilio_env,
)
from tests.fake_twilio import FakeTwilio

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("machine_services_untouched"),
]


wait_for = functools.partial(wait_until, step=0.1)


OWN_BROKER_OPTIONS = {"visibility_timeout": 3600, "global_keyprefix": KEY_PREFIX}


class OwnStack:
    """A redis-server of the test's own, with this process's Celery app and cache, and
    the worker and beat processes the test starts, all pointed at it."""

    def __init__(self, redis: Redis, fake: FakeTwilio, root: Path) -> None:
        self.redis, self.fake, self.root = redis, fake, root
        self.processes: list[CeleryProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        return process_env(
            REDIS_URL=self.redis.url(0),
            REDIS_CACHE_URL=self.redis.url(1),
            **twilio_env(self.fake),
            **FAST_SWEEPS,
            **extra,
        )

    def start(self, kind: str, **extra: str) -> CeleryProcess:
        log_path = self.root / f"{kind}-{len(self.processes)}.log"
        process = CeleryProcess(kind, self.env(**extra), log_path)
        self.processes.append(process)
        return process.start()

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def own_stack(
    django_db_setup, eager_off, fake_twilio: FakeTwilio, tmp_path: Path
) -> Iterator[OwnStack]:
    problems = missing_tools(postgres=False)
    if problems:
        reason = "FAILURE TESTS NOT RUN: " + "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = Redis(tmp_path)
    server.start()
    cache = {
        "default": {
            "BACKEND": "clinic.cache.FailOpenRedisCache",
            "LOCATION": server.url(1),
            "KEY_PREFIX": "clinic",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    stack = OwnStack(server, fake_twilio, tmp_path)
    before = (celery_app.conf.broker_url, settings.CACHES, settings.REDIS_URL)
    try:
        with (
            celery_broker(server.url(0), OWN_BROKER_OPTIONS),
            override_settings(CACHES=cache, REDIS_URL=server.url(0)),
        ):
            yield stack
    finally:
        stack.stop()
        server.stop()
    # The tests after this one publish and cache on the machine's Redis again
    # (eager mode is eager_off's to restore).
    assert (celery_app.conf.broker_url, settings.CACHES, settings.REDIS_URL) == before
    assert caches["default"]._servers == [before[1]["default"]["LOCATION"]]


def test_the_failure_tests_never_use_the_machines_redis(own_stack):
    # Guards the fixture: a stop or restart here can only hit the test's own server.
    assert own_stack.redis.port != 6379
    assert celery_app.conf.broker_url == own_stack.redis.url(0)
    with celery_app.connection_for_write() as conn:
        assert conn.as_uri().endswith(f":{own_stack.redis.port}/0")
    worker_env = own_stack.env()
    assert worker_env["REDIS_URL"] == own_stack.redis.url(0)
    assert worker_env["REDIS_CACHE_URL"] == own_stack.redis.url(1)


def test_the_guard_sees_a_redis_restart(own_stack, monkeypatch):
    # machine_services_untouched compares these: a restart must change them.
    monkeypatch.setenv("REDIS_URL", own_stack.redis.url(0))
    before = _machine_servers()["redis"]
    assert before is not None
    own_stack.redis.restart()
    assert _machine_servers()["redis"] != before


def test_a_worker_killed_mid_send_leaves_every_message_sent_exactly_once(own_stack):
    fake_twilio = own_stack.fake
    worker = own_stack.start("worker")
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

    worker.kill9()
    taken_before_restart = len(fake_twilio.creates)
    assert taken_before_restart < len(recipients)
    fake_twilio.slow(0)
    worker.start()
    # Beat runs the sweeps: redeliveries are stuck in Redis until the visibility
    # timeout, so the sweep and the provider lookup must make good on their own.
    own_stack.start("beat")

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


def test_leads_taken_while_redis_is_down_are_confirmed_once_it_is_back(own_stack):
    own_stack.start("worker")
    own_stack.start("beat")
    client = APIClient()

    own_stack.redis.stop()
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
        own_stack.redis.start()
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
    assert Counter(c.form["To"] for c in own_stack.fake.creates) == Counter(
        f"+1202555{4000 + index:04d}" for index in range(20)
    )


def _send(recipient: str) -> Message:
    return message_send(
        channel="sms",
        purpose="confirmation",
        recipient=recipient,
        template="confirmation",
        context={"first_name": "Ada", "callback_window": "soon"},
    )


def _sent(message: Message) -> bool:
    message.refresh_from_db()
    return message.status == Message.Status.SENT


def _restart_redis_watching(stack: OwnStack, worker: CeleryProcess, down_for: float) -> None:
    """Restart the test's redis-server on its port; the worker must stay up throughout."""
    pid = worker.process.pid
    stack.redis.restart(down_for=down_for)
    # Long enough for the consumer to notice, retry and reconnect (or to crash).
    watch_until = time.monotonic() + 8
    while time.monotonic() < watch_until:
        assert worker.process.poll() is None, (
            f"the worker exited (code {worker.process.returncode}) on a Redis restart:\n"
            + worker.log()[-4000:]
        )
        time.sleep(0.2)
    assert worker.process.pid == pid


def test_a_worker_keeps_running_across_redis_restarts_and_consumes_new_tasks(own_stack):
    worker = own_stack.start("worker")
    pid = worker.process.pid
    first = _send("+12025557001")
    assert wait_for(lambda: _sent(first), timeout=30, step=0.3)

    # Idle: nothing queued, the consumer blocked in BRPOP.
    _restart_redis_watching(own_stack, worker, down_for=2)
    after_idle = _send("+12025557002")
    assert wait_for(lambda: _sent(after_idle), timeout=45, step=0.3), worker.log()[-4000:]

    # Busy: sends in progress (Twilio answers late). Both pool processes busy and
    # more queued behind them, the sends ending while Redis is down, then after it is
    # back; and one send in progress with the consumer waiting in BRPOP for the other
    # slot (the case that crashed kombu 5.7: an unacknowledged message on a channel
    # that is reading).
    after_busy = []
    phases = ((0.5, 8, 2.0), (4.0, 8, 1.0), (4.0, 1, 2.0))
    for index, (answer_after, queued, down_for) in enumerate(phases):
        own_stack.fake.slow(answer_after)
        taken = len(own_stack.fake.creates)
        for n in range(queued):
            _send(f"+1202555{7100 + 10 * index + n:04d}")
        in_flight = min(queued, 2)
        assert wait_for(lambda: len(own_stack.fake.creates) >= taken + in_flight, timeout=30)  # noqa: B023
        if queued == 1:
            time.sleep(0.5)  # the consumer is back in BRPOP, the send still unanswered
        _restart_redis_watching(own_stack, worker, down_for=down_for)
        own_stack.fake.slow(0)
        after = _send(f"+120255571{90 + index}")
        assert wait_for(lambda: _sent(after), timeout=45, step=0.3), worker.log()[-4000:]  # noqa: B023
        after_busy.append(after)

    assert worker.process.poll() is None
    assert worker.process.pid == pid
    assert worker.log().count("Unrecoverable error") == 0
    # No text was sent twice because of the restarts (the queued ones the restart
    # lost are the sweep's to send; no beat runs here).
    sends = Counter(create.form["To"] for create in own_stack.fake.creates)
    assert {to for to, n in sends.items() if n > 1} == set()


def test_the_worker_env_sends_through_the_fake(fake_twilio_server):
    # Guards the fixture wiring the failure tests rely on.
    env = twilio_env(fake_twilio_server)
    assert env["TWILIO_API_BASE"].startswith("http://127.0.0.1:")
    assert env["SMS_BACKEND"] == "twilio"


def _queued(name: str) -> int:
    """Takes the tasks waiting in queue ``name`` of the app's broker; how many there were."""
    with celery_app.connection_for_write() as connection, connection.channel() as channel:
        return channel.queue_purge(name) or 0


def test_an_own_broker_leaves_the_app_whole_again(eager_off, tmp_path):
    # own_stack points this process's app at a test's redis-server and back; the
    # tests after it (and the session worker's pings) publish to the machine's Redis
    # again, through open pools, eager tasks included.
    require_real_stack()
    machine_url = celery_app.conf.broker_url
    machine_options = celery_app.conf.broker_transport_options
    probe = f"own-broker-probe-{os.getpid()}"
    with celery_app.producer_or_acquire() as producer:  # the machine's pools exist
        assert producer.connection.as_uri().endswith(urlsplit(machine_url).path)
    server = Redis(tmp_path)
    server.start()
    try:
        for _ in range(2):  # the second time on the same port, as a later test may get
            with celery_broker(server.url(0), OWN_BROKER_OPTIONS):
                worker_heartbeat.apply_async(queue=probe)
                assert celery_app.control.ping(destination=["nobody@nowhere"], timeout=0.2) == []
                assert _queued(probe) == 1
                with celery_app.producer_or_acquire() as producer:
                    assert producer.connection.as_uri().endswith(f":{server.port}/0")
    finally:
        server.stop()

    assert celery_app.conf.broker_url == machine_url
    assert celery_app.conf.broker_transport_options == machine_options
    with celery_app.connection_for_write() as connection:
        assert connection.as_uri() == Connection(machine_url).as_uri()
    worker_heartbeat.apply_async(queue=probe)
    assert _queued(probe) == 1
    assert celery_app.control.ping(destination=["nobody@nowhere"], timeout=0.2) == []
    # Eager tasks take a producer from the pool too. (Not monkeypatch: pytest-django's
    # autouse fixtures set it up before eager_off, so it would undo after eager_off.)
    celery_app.conf.task_always_eager = True
    try:
        assert enqueue("config.tasks.worker_heartbeat")
    finally:
        celery_app.conf.task_always_eager = False
    assert cache.get(HEARTBEAT_KEY) is not None
