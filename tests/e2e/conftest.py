"""Real Celery processes (worker, beat) on a real Redis broker, against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone as django_timezone
from kombu import Connection, pools
from kombu.utils.collections import eqhash

from clinic.crypto import phone_hash
from config.celery import app as celery_app
from scheduling.models import StaffCallSettings
from tests.factories import UserFactory
from tests.fake_twilio import FROM_NUMBER, FakeTwilio

BASE_DIR = Path(__file__).resolve().parents[2]
QUEUES = ",".join(queue.name for queue in celery_app.conf.task_queues)
# Every test run gets its own keys in Redis, so that two runs on one machine
# never take each other's tasks.
KEY_PREFIX = f"e2e-{os.getpid()}-"


def _drop_pools(connection: Connection) -> None:
    """Close the pools of ``connection``'s broker and take them out of kombu's
    process-wide registries (``kombu.pools.connections``/``producers``, keyed by
    transport, host, port and transport options), so that the next app to ask for
    that broker gets new pools instead of a closed one ("Acquire on closed pool")."""
    key = eqhash(connection)
    for group in (pools.producers, pools.connections):
        pool = dict.pop(group, key, None)
        if pool is not None:
            pool.force_close_all()


def _forget_pools() -> None:
    """The app's next publish asks the registries for the pools of its broker setting."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    if "control" in celery_app.__dict__:
        # The mailbox caches its producer pool (kombu's Mailbox.producer_pool).
        celery_app.control.mailbox.__dict__.pop("producer_pool", None)


def _isolate_broker_keys() -> None:
    options = dict(celery_app.conf.broker_transport_options or {})
    if options.get("global_keyprefix") != KEY_PREFIX:
        # Connections made before now carry the old options: drop them.
        _drop_pools(celery_app.connection_for_write())
        options["global_keyprefix"] = KEY_PREFIX
        celery_app.conf.broker_transport_options = options
        _forget_pools()


@contextmanager
def celery_broker(url: str, transport_options: dict) -> Iterator[None]:
    """This process's Celery app publishes (tasks, control pings, eager tasks' producer)
    to ``url`` inside the block; afterwards it is as it was, with its own pools.

    The app's pools before the block are set aside, not closed: kombu keeps them in
    process-wide registries and would hand the closed ones back once the broker
    setting is restored. The block's pools are closed and unregistered at its end
    (a later test's redis-server may get the same port)."""
    conf = celery_app.conf
    saved_conf = (conf.broker_url, conf.broker_transport_options)
    saved_pools = (celery_app._pool, celery_app.amqp._producer_pool)
    conf.broker_url = url
    conf.broker_transport_options = dict(transport_options)
    _forget_pools()
    try:
        yield
    finally:
        _drop_pools(celery_app.connection_for_write())
        if celery_app._pool is not None:  # not registered (a fork cleared the registry)
            celery_app._pool.force_close_all()
        conf.broker_url, conf.broker_transport_options = saved_conf
        _forget_pools()
        celery_app._pool, celery_app.amqp._producer_pool = saved_pools


_isolate_broker_keys()


def require_real_stack() -> None:
    """Skip loudly without PostgreSQL and Redis; under CI a skip is a failure."""
    problems = []
    if not os.environ.get("REDIS_URL"):
        problems.append("REDIS_URL is not set")
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if not problems:
        try:
            with celery_app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            problems.append(f"Redis at REDIS_URL is unreachable ({type(error).__name__})")
    if problems:
        reason = (
            "END-TO-END TESTS NOT RUN: they need a real worker on Redis and PostgreSQL; "
            + "; ".join(problems)
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a worker or beat process: the test database, no eager tasks."""
    database = urlsplit(os.environ["DATABASE_URL"])
    test_database = urlunsplit(database._replace(path=f"/{connection.settings_dict['NAME']}"))
    return {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": test_database,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SMS_BACKEND": "console",
        "CELERY_KEY_PREFIX": KEY_PREFIX,
        **extra,
    }


class CeleryProcess:
    """``celery worker`` or ``celery beat`` in its own process group, so that a
    kill -9 takes the pool's children with it, as a crashed machine would."""

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        log_path: Path,
        *,
        queues: str = QUEUES,
        pool: tuple[str, ...] = ("--concurrency=2",),
    ) -> None:
        self.kind = kind
        self.env = env
        self.log_path = log_path
        # A worker consumes every queue by default; production splits them between a
        # prefork pool and the confirmations' pool of threads.
        self.queues = queues
        self.pool = pool
        self.node = f"e2e-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryProcess:
        command = [sys.executable, "-m", "celery", "-A", "config", self.kind, "--loglevel=INFO"]
        if self.kind == "worker":
            command += [*self.pool, "--without-gossip", "--without-mingle"]
            command += ["-Q", self.queues, "-n", self.node]
        else:
            command += ["--schedule", str(self.log_path.with_suffix(".schedule"))]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.kind == "worker":
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not celery_app.control.ping(destination=[self.node], timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Celery {self.kind} did not start:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill9()


# Sweeps act within seconds here, so that failure tests finish quickly.
FAST_SWEEPS = {
    "MESSAGE_STUCK_AFTER_SECONDS": "5",
    "SUBMISSION_SWEEP_AFTER_SECONDS": "3",
    "SWEEP_INTERVAL_SECONDS": "2",
}


def twilio_env(fake: FakeTwilio) -> dict[str, str]:
    """Settings that send the worker's SMS through the real twilio client to the fake."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE": fake.base_url,
        "TWILIO_EDGE": "",
        "TWILIO_REGION": "",
    }


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup,
    django_db_blocker,
    fake_twilio_server,
    tmp_path_factory,
) -> Iterator[CeleryProcess]:
    """One worker for the whole session, sending SMS to the fake Twilio server.
    A test may kill it; it is started again for the next test."""
    require_real_stack()
    celery_app.control.purge()
    env = process_env(**twilio_env(fake_twilio_server), **FAST_SWEEPS)
    worker = CeleryProcess("worker", env, tmp_path_factory.mktemp("worker") / "w.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def _machine_servers() -> dict[str, object]:
    """Who the machine's Redis and PostgreSQL servers are right now: a restart changes
    Redis's run_id and process id, and PostgreSQL's postmaster start time."""
    import psycopg
    import redis

    found: dict[str, object] = {}
    url = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    try:
        info = redis.Redis(
            host=url.hostname or "127.0.0.1", port=url.port or 6379, socket_timeout=2
        ).info("server")
        found["redis"] = (info["run_id"], info["process_id"])
    except redis.RedisError:
        found["redis"] = None
    database = urlsplit(os.environ.get("DATABASE_URL", ""))
    if database.scheme.startswith("postgres"):
        try:
            with psycopg.connect(
                host=database.hostname or "127.0.0.1",
                port=database.port or 5432,
                user=database.username or "postgres",
                password=database.password or None,
                dbname="postgres",
                connect_timeout=3,
            ) as conn:
                found["postgres"] = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        except psycopg.Error:
            found["postgres"] = None
    return found


@pytest.fixture(scope="session")
def machine_services_untouched() -> Iterator[dict[str, object]]:
    """Fails the run if the machine's Redis or PostgreSQL was restarted (or stopped)
    while it ran: tests stop and restart only servers they started themselves."""
    before = _machine_servers()
    yield before
    after = _machine_servers()
    assert after == before, f"the machine's servers changed during the run: {before} -> {after}"


@pytest.fixture
def eager_off() -> Iterator[None]:
    """Tasks published from this test go to Redis instead of running inline."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous


@pytest.fixture
def real_worker(celery_worker_process, eager_off, fake_twilio) -> CeleryProcess:
    """The session's worker, alive, with an empty fake Twilio."""
    if celery_worker_process.process.poll() is not None:
        celery_worker_process.start()
    return celery_worker_process


@pytest.fixture
def celery_processes(django_db_setup, tmp_path) -> Iterator:
    """Start dedicated worker/beat processes with extra settings; all stopped at the end."""
    require_real_stack()
    started: list[CeleryProcess] = []

    def start(kind: str, *, options: dict[str, Any] | None = None, **extra_env: str):
        log_path = tmp_path / f"{kind}-{len(started)}.log"
        env = process_env(**FAST_SWEEPS, **extra_env)
        process = CeleryProcess(kind, env, log_path, **(options or {})).start()
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


# --- The clinic's phone end to end -----------------------------------------------------

CLINIC_CALLER_ID = "+14753292686"


def wait_for(condition, *, timeout: float) -> bool:
    """Poll ``condition`` every 20 ms until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def phone_worker(
    celery_worker_process, celery_processes, fake_twilio, eager_off, live_server, settings
):
    """A worker of its own that places calls through the real ``twilio`` client to the
    fake Twilio, with the webhooks on the live server and the clinic open all day (no
    opening hours in the database). Only it consumes: the session's worker is stopped
    (and restarted for the tests after)."""
    celery_worker_process.stop()
    settings.PUBLIC_BASE_URL = live_server.url  # the webhooks' signatures are over it
    settings.CLINIC_CALLER_ID = CLINIC_CALLER_ID
    return celery_processes(
        "worker",
        **twilio_env(fake_twilio),
        VOICE_BACKEND="twilio",
        CLINIC_CALLER_ID=CLINIC_CALLER_ID,
        PUBLIC_BASE_URL=live_server.url,
        CLINIC_HOLIDAYS_COUNTRY="",
    )


def staff_with_phone(*, username: str, phone: str, available: bool = False):
    """A coordinator whose own phone is verified (and, if ``available``, who takes
    instant calls)."""
    coordinator = UserFactory(username=username)
    coordinator.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    now = django_timezone.now()
    StaffCallSettings.objects.create(
        user=coordinator,
        phone=phone,
        phone_hash=phone_hash(phone),
        verified_at=now,
        available=available,
        available_since=now if available else None,
    )
    return coordinator
