"""The failure drill: `make drill` (`.venv/bin/python bench/drill.py [--duration 300] [--short]`).

Runs the real stack on this machine, all of it the drill's own: a PostgreSQL cluster
(initdb into a temporary directory, as the ``postgres`` OS user, on a free port, fsync
off), a redis-server (free port, no persistence), gunicorn (production settings with
throwaway values), two Celery workers, beat, and the fake Twilio server
(tests/fake_twilio.py) in this process. The machine's own PostgreSQL and Redis are
never touched: other people's work runs on them.

For ``--duration`` seconds it sends mixed traffic: web leads (with Idempotency-Key,
retried as a browser would after a 503), CTA beacon events, two coordinators claiming
callbacks and logging outcomes through the API (session login), Twilio status
callbacks and inbound STOPs (signed with the fake's auth token). Meanwhile, one at a
time: a worker is killed with -9 (and started again), Twilio is down (a ten-minute
outage, compressed: 503, then 429 with Retry-After), answers 500, then slowly (past
the client's timeout), Redis is restarted (losing
every queued task: no persistence) and PostgreSQL is restarted.

Then it stops the traffic, waits for the queues to drain (at most DRAIN_LIMIT_SECONDS)
and checks, printing PASS or FAIL for each:

- every 201 reference exists, was processed, and its lead has exactly one callback;
- each accepted lead has its confirmations (SMS with consent, email if given), or a
  recorded reason (suppressed or failed with an error code);
- no duplicate SMS (every text Twilio took is one message row, each taken once);
- no SMS to a number after its STOP was acknowledged;
- in the Twilio outage, no text came back sooner than a 429's Retry-After, and
  none was given up (each went once Twilio recovered);
- no 5xx (and no unanswered request) outside the PostgreSQL outage, and inside it
  only 503 with Retry-After;
- the queues (submissions, messages, the broker's lists) drained within the limit;
- the workers survived the Redis restart in-process (the same PID before and after).

A process that dies on its own is started again, as docker compose's restart policy
does, and named in the report. (kombu 5.7's Redis transport crashed a worker that lost
Redis with a task in progress: "Unrecoverable error: AttributeError ... 'hostname'";
config/celery.py fixes that, and the check above keeps it fixed.)

Exits 1 if any check fails (and keeps the logs), 0 otherwise. The sweeps run every
few seconds here (FAST_SWEEPS), as the drill is minutes long, not hours.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import redis
import requests
from cryptography.fernet import Fernet, MultiFernet
from twilio.request_validator import RequestValidator

from bench.intake import free_port
from bench.services import Postgres, Redis, missing_tools, wait_until
from tests.fake_twilio import FROM_NUMBER, FakeTwilio

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
ARTICLE = "science-behind-antidepressants"
QUEUES = "confirmations,default,notifications,scheduling"
# After the traffic stops, everything queued must be done within this long.
DRAIN_LIMIT_SECONDS = 120
# Requests still finishing this long after PostgreSQL is back count as in the outage.
OUTAGE_GRACE_SECONDS = 3
# The Twilio client gives up after this; the slow fault answers later than that.
TWILIO_TIMEOUT_SECONDS = 5
REQUEST_TIMEOUT_SECONDS = 20
RETRY_AFTER_SECONDS = 2
COORDINATORS = ("drill-coordinator-1", "drill-coordinator-2")
FAST_SWEEPS = {
    "SWEEP_INTERVAL_SECONDS": "5",
    "SUBMISSION_SWEEP_AFTER_SECONDS": "10",
    # Above the task hard time limit (CELERY_TASK_TIME_LIMIT, 60 s): a message can be
    # "sending" in a live task that long, and reconciling it sooner could resend it.
    "MESSAGE_STUCK_AFTER_SECONDS": "75",
}
# A Twilio incident as a clinic meets one: ten minutes of 503s, then 429s with
# Retry-After while Twilio recovers. The drill's time runs TIME_SCALE times faster
# than production's (sweeps every 5 s, not 60 s), and so do the outage and the retry
# backoff's cap; a --short run compresses the outage further, to fit its minute.
TIME_SCALE = 12
TWILIO_OUTAGE_SECONDS = 600
TWILIO_OUTAGE_RETRY_AFTER_SECONDS = 3
RETRY_SETTINGS = {
    "MESSAGE_RETRY_MAX_DELAY_SECONDS": str(300 // TIME_SCALE),
    "MESSAGE_RETRY_TASK_COUNTDOWN_MAX_SECONDS": "3",
}
AREA_CODES = ("202", "212", "312", "415", "617", "718", "303", "404", "503", "602")
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) drill"


STARTED = time.monotonic()
# time.time() of a moment, less this, is its time.monotonic() (the fake stamps wall time).
WALL_TO_MONOTONIC = time.time() - time.monotonic()


def log(message: str) -> None:
    print(f"drill: [{time.monotonic() - STARTED:6.1f} s] {message}", flush=True)


# --- The application's processes ----------------------------------------------------------


class Service:
    """One process group (gunicorn, a worker, beat): kill -9 takes its children too."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], root: Path) -> None:
        self.name, self.command, self.env = name, command, env
        self.log_path = root / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.expected_down = False

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.expected_down = False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        self.expected_down = True
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.expected_down = True
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def stack_env(pg: Postgres, rds: Redis, web_port: int, fake: FakeTwilio) -> dict[str, str]:
    """Production settings with throwaway values, every service the drill's own."""
    basics = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ"}}
    return {
        **basics,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": "drill-only-throwaway-" + secrets.token_hex(16),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "LOOKUP_HASH_KEY": os.urandom(32).hex(),
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "DATABASE_URL": pg.url("clinic"),
        "REDIS_URL": f"redis://{HOST}:{rds.port}/0",
        "REDIS_CACHE_URL": f"redis://{HOST}:{rds.port}/1",
        "SECURE_SSL_REDIRECT": "false",
        "PUBLIC_BASE_URL": f"http://{HOST}:{web_port}",
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "CLINIC_CALLER_ID": FROM_NUMBER,
        "TWILIO_API_BASE": fake.base_url,
        "TWILIO_TIMEOUT_SECONDS": str(TWILIO_TIMEOUT_SECONDS),
        "TWILIO_EDGE": "",
        "TWILIO_REGION": "",
        "SMS_MAX_PER_SECOND": "50",
        # Emails are recorded as messages and handed to a backend that drops them.
        "EMAIL_URL": "dummymail://",
        "DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CAPTCHA_PROVIDER": "",
        "CTA_ALLOWED_ORIGINS": "",
        "LOG_LEVEL": "WARNING",
        "READYZ_RETRY_AFTER_SECONDS": str(RETRY_AFTER_SECONDS),
        # The drill's traffic comes from one address: the throttles would measure that.
        "LEAD_THROTTLE_PER_IP": "1000000/hour",
        "LEAD_THROTTLE_PER_PHONE": "1000000/hour",
        "LEAD_THROTTLE_PER_EMAIL": "1000000/hour",
        "LEAD_THROTTLE_PER_SUBNET": "1000000/hour",
        "CTA_EVENT_THROTTLE_PER_IP": "1000000/minute",
        **FAST_SWEEPS,
        **RETRY_SETTINGS,
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, timeout=600)


def prepare_database(pg: Postgres, env: dict[str, str], staff_password: str) -> dict[str, str]:
    """Migrate, seed the article and the coordinators; return their API tokens."""
    with pg.connect("postgres") as conn:
        conn.execute("CREATE DATABASE clinic")
    log("migrating the drill's database; collecting static files (as the image build does)")
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    names = ", ".join(repr(name) for name in COORDINATORS)
    manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "from pathlib import Path\n"
        "from django.contrib.auth.models import Group, User\n"
        "from intake.services import article_import_text\n"
        f"article_import_text(slug={ARTICLE!r}, "
        f"text=Path('intake/demo/{ARTICLE}.txt').read_text())\n"
        f"for name in ({names},):\n"
        f"    user = User.objects.create_user(name, password={staff_password!r})\n"
        "    user.groups.add(Group.objects.get(name='coordinator'))\n",
    )
    issued = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-v",
            "0",
            "-c",
            "import json\n"
            "from clinic.signin.services import api_token_create\n"
            f"print(json.dumps({{name: api_token_create(username=name).secret "
            f"for name in ({names},)}}))\n",
        ],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    return json.loads(issued.stdout.strip().splitlines()[-1])


def wait_for_web(port: int, service: Service) -> None:
    def answers() -> bool:
        if not service.alive():
            raise RuntimeError(f"gunicorn exited; see {service.log_path}")
        try:
            return requests.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    if not wait_until(answers, timeout=60):
        raise RuntimeError(f"gunicorn did not answer /healthz; see {service.log_path}")


# --- Staff sign-in (the one place that knows how staff authenticate) -----------------------


@dataclass
class StaffSession:
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


def staff_sign_in(base_url: str, username: str, tokens: dict[str, str]) -> StaffSession:
    """What the coordinators' API calls carry: the API token an admin issued for them
    (django-rest-knox; no session, so no CSRF token and no second-factor step, as
    for any integration). ``base_url`` is unused: a token needs no sign-in round trip."""
    del base_url
    return StaffSession(tokens[username])


# --- Traffic and what it saw ------------------------------------------------------------


@dataclass
class Hit:
    kind: str
    started: float
    ended: float
    status: int  # 0: no answer (connection refused, reset or timed out)
    retry_after: str | None


@dataclass
class AcceptedLead:
    reference: str
    phone: str
    email: str
    sms_consent: bool


@dataclass
class Record:
    """Everything the traffic saw, shared by its threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    hits: list[Hit] = field(default_factory=list)
    leads: dict[str, AcceptedLead] = field(default_factory=dict)  # by Idempotency-Key
    given_up: int = 0
    stops: dict[str, float] = field(default_factory=dict)  # phone -> when acknowledged
    attempts: int = 0
    claims: int = 0
    status_callbacks: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)
    sign_in_failures: Counter[str] = field(default_factory=Counter)

    def hit(self, hit: Hit) -> None:
        with self.lock:
            self.hits.append(hit)


class Traffic:
    def __init__(
        self,
        base_url: str,
        fake: FakeTwilio,
        record: Record,
        staff_tokens: dict[str, str],
        seed: int,
    ) -> None:
        self.base_url = base_url
        self.fake = fake
        self.record = record
        self.staff_tokens = staff_tokens
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.random = random.Random(seed)
        self.phones = self._phones(seed)
        self.phone_lock = threading.Lock()
        self.validator = RequestValidator(fake.auth_token)

    @staticmethod
    def _phones(seed: int) -> Iterator[str]:
        numbers = [f"+1{area}555{n:04d}" for area in AREA_CODES for n in range(10000)]
        random.Random(seed).shuffle(numbers)
        return iter(numbers)

    def next_phone(self) -> str:
        with self.phone_lock:
            return next(self.phones)

    def request(
        self,
        http: requests.Session,
        kind: str,
        method: str,
        path: str,
        **kwargs: Any,
    ) -> requests.Response | None:
        started = time.monotonic()
        try:
            answer = http.request(
                method, self.base_url + path, timeout=REQUEST_TIMEOUT_SECONDS, **kwargs
            )
        except requests.RequestException:
            self.record.hit(Hit(kind, started, time.monotonic(), 0, None))
            return None
        self.record.hit(
            Hit(
                kind,
                started,
                time.monotonic(),
                answer.status_code,
                answer.headers.get("Retry-After"),
            )
        )
        return answer

    def pause(self, seconds: float) -> bool:
        """Sleep; False once the drill is stopping."""
        return not self.stopping.wait(seconds)

    def backoff(self, answer: requests.Response | None) -> float:
        if answer is not None and answer.headers.get("Retry-After", "").isdigit():
            return float(answer.headers["Retry-After"])
        return 1.0

    # The people and machines calling us ----------------------------------------------

    def leads(self, rate: float) -> None:
        http = requests.Session()
        rng = random.Random(self.random.random())
        while self.pause(rng.expovariate(rate)):
            phone, email = self.next_phone(), ""
            kind = rng.random()
            if kind < 0.15:  # email only
                phone, email = "", f"drill-{secrets.token_hex(6)}@example.org"
            elif kind < 0.40:
                email = f"drill-{secrets.token_hex(6)}@example.org"
            consent = bool(phone) and rng.random() < 0.88
            if phone and rng.random() < 0.04:
                # Someone who texted STOP earlier now asks for a callback.
                self.stop_text(http, phone)
            body = {
                "first_name": "Drill",
                "phone": phone,
                "email": email,
                "sms_consent": consent,
                "article": ARTICLE,
                "timezone": "America/New_York",
                "best_time": rng.choice(["anytime", "morning", "afternoon", "evening"]),
                "utm_source": "drill",
            }
            if not phone:
                del body["phone"]
            if not email:
                del body["email"]
            self.submit(http, body, phone=phone, email=email, consent=consent)

    def submit(
        self, http: requests.Session, body: dict, *, phone: str, email: str, consent: bool
    ) -> None:
        """POST one lead, retrying with the same Idempotency-Key as the embed does."""
        key = secrets.token_hex(16)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            answer = self.request(
                http,
                "lead",
                "POST",
                "/api/v1/leads/",
                json=body,
                headers={"Idempotency-Key": key, "User-Agent": BROWSER},
            )
            if answer is not None and answer.status_code == 201:
                reference = answer.json()["reference"]
                with self.record.lock:
                    self.record.leads[key] = AcceptedLead(reference, phone, email, consent)
                return
            if answer is not None and answer.status_code < 500 and answer.status_code != 429:
                with self.record.lock:
                    self.record.errors.append(f"lead refused: HTTP {answer.status_code}")
                return
            time.sleep(min(self.backoff(answer), 5))
        with self.record.lock:
            self.record.given_up += 1

    def events(self, rate: float) -> None:
        http = requests.Session()
        rng = random.Random(self.random.random())
        while self.pause(rng.expovariate(rate)):
            answer = self.request(
                http,
                "event",
                "POST",
                "/api/v1/events/",
                json={
                    "article": ARTICLE,
                    "type": rng.choice(["article_view", "cta_view", "form_start"]),
                },
                headers={"User-Agent": BROWSER},
            )
            if answer is not None and answer.status_code == 204:
                with self.record.lock:
                    self.record.events += 1

    def coordinator(self, username: str) -> None:
        http = requests.Session()
        rng = random.Random(self.random.random())
        session = None
        while not self.stopping.is_set():
            if session is None:
                try:
                    session = staff_sign_in(self.base_url, username, self.staff_tokens)
                except (requests.RequestException, RuntimeError, KeyError) as error:
                    with self.record.lock:
                        self.record.sign_in_failures[f"{type(error).__name__}: {error}"] += 1
                    self.pause(1)  # the database may be restarting
                    continue
            answer = self.request(
                http, "claim", "POST", "/api/v1/callbacks/claim-next/", headers=session.headers()
            )
            if answer is None or answer.status_code != 200:
                if answer is not None and answer.status_code in (401, 403):
                    session = None
                self.pause(self.backoff(answer) if answer is not None else 1)
                continue
            with self.record.lock:
                self.record.claims += 1
            callback_id = answer.json()["id"]
            self.pause(rng.uniform(0.2, 1.0))  # on the phone
            outcome = rng.choice(
                ["reached", "no_answer", "no_answer", "voicemail", "not_interested"]
            )
            for _ in range(30):
                logged = self.request(
                    http,
                    "attempt",
                    "POST",
                    f"/api/v1/callbacks/{callback_id}/attempts/",
                    json={"outcome": outcome, "notes": "drill call", "confirm": outcome},
                    headers=session.headers(),
                )
                if logged is not None and logged.status_code == 400 and outcome == "voicemail":
                    outcome = "no_answer"  # this person allowed no voicemail: hang up
                    continue
                if logged is not None and logged.status_code < 500:
                    if logged.status_code == 201:
                        with self.record.lock:
                            self.record.attempts += 1
                    break
                time.sleep(self.backoff(logged))
            self.pause(rng.uniform(0.2, 0.8))

    def signed_post(self, http: requests.Session, kind: str, path: str, params: dict[str, str]):
        signature = self.validator.compute_signature(self.base_url + path, params)
        return self.request(
            http, kind, "POST", path, data=params, headers={"X-Twilio-Signature": signature}
        )

    def status_callbacks(self) -> None:
        """Twilio reports each message delivered, sometimes twice, sometimes late."""
        http = requests.Session()
        rng = random.Random(self.random.random())
        reported: set[str] = set()
        while self.pause(0.5):
            for message in self.fake.messages:
                sid = message["sid"]
                if sid in reported:
                    continue
                statuses = ["delivered"] if rng.random() < 0.8 else ["sent", "delivered"]
                if rng.random() < 0.1:
                    statuses.append("delivered")  # a duplicate
                done = True
                for status in statuses:
                    answer = self.signed_post(
                        http,
                        "status",
                        "/webhooks/twilio/status/",
                        {
                            "MessageSid": sid,
                            "MessageStatus": status,
                            "AccountSid": self.fake.account_sid,
                            "To": message["to"],
                        },
                    )
                    done = done and answer is not None and answer.status_code < 500
                if done:
                    reported.add(sid)
                    with self.record.lock:
                        self.record.status_callbacks += 1
                if self.stopping.is_set():
                    return

    def stop_text(self, http: requests.Session, phone: str) -> bool:
        """The person texts STOP; True once we acknowledged it (Twilio retries until then)."""
        params = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": self.fake.account_sid,
            "From": phone,
            "To": FROM_NUMBER,
            "Body": "STOP",
        }
        for _ in range(30):
            answer = self.signed_post(http, "inbound", "/webhooks/twilio/inbound/", params)
            if answer is not None and answer.status_code == 200:
                with self.record.lock:
                    self.record.stops.setdefault(phone, time.time())
                return True
            time.sleep(self.backoff(answer))
        return False

    def stops(self, rate: float) -> None:
        """People who got a confirmation reply STOP."""
        http = requests.Session()
        rng = random.Random(self.random.random())
        while self.pause(rng.expovariate(rate)):
            with self.record.lock:
                candidates = [
                    lead.phone
                    for lead in self.record.leads.values()
                    if lead.sms_consent and lead.phone not in self.record.stops
                ]
            if candidates:
                self.stop_text(http, rng.choice(candidates))

    def start(self, *, lead_rate: float) -> None:
        work: list[tuple[str, Callable, tuple]] = [
            ("leads-1", self.leads, (lead_rate / 2,)),
            ("leads-2", self.leads, (lead_rate / 2,)),
            ("events", self.events, (lead_rate * 2,)),
            ("status", self.status_callbacks, ()),
            ("stops", self.stops, (lead_rate / 15,)),
            *((name, self.coordinator, (name,)) for name in COORDINATORS),
        ]
        for name, target, args in work:
            thread = threading.Thread(target=self._guard(target), args=args, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _guard(self, target: Callable) -> Callable:
        def run(*args: Any) -> None:
            try:
                target(*args)
            except Exception:
                with self.record.lock:
                    self.record.errors.append(traceback.format_exc(limit=3))

        return run

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            # A lead being retried finishes its retries first (at most 90 s).
            thread.join(timeout=100)


# --- Faults ----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    started: float
    ended: float | None = None


class Timeline:
    """What the drill did when; each request is counted in the phase it started in."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []
        self.outages: list[tuple[float, float]] = []  # PostgreSQL down (plus grace)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        current = Phase(name, time.monotonic())
        self.phases.append(current)
        try:
            yield
        finally:
            current.ended = time.monotonic()

    def phase_of(self, moment: float) -> str:
        name = self.phases[0].name if self.phases else "setup"
        for phase in self.phases:
            if phase.started <= moment:
                name = phase.name
        return name

    def in_outage(self, hit: Hit) -> bool:
        return any(start <= hit.ended and hit.started <= end for start, end in self.outages)


@dataclass
class Stack:
    root: Path
    pg: Postgres
    rds: Redis
    fake: FakeTwilio
    web: Service
    workers: list[Service]
    beat: Service
    base_url: str
    field_keys: str = ""  # FIELD_ENCRYPTION_KEYS of the stack: message bodies are encrypted
    restarts: list[str] = field(default_factory=list)
    # Per worker: its PID before the Redis restart, and after it (None if it exited).
    redis_restart_pids: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def plain(self, token: str) -> str:
        """A body as the application stored it (a Fernet token), in plain text."""
        if not token:
            return ""
        keys = MultiFernet([Fernet(key) for key in self.field_keys.split(",")])
        return keys.decrypt(token.encode("ascii")).decode("utf-8")

    def services(self) -> list[Service]:
        return [self.web, *self.workers, self.beat]


def supervise(stack: Stack, stopping: threading.Event) -> None:
    """Like a container restart policy: a process that died on its own is noted
    (it shows in the report) and started again."""
    while not stopping.wait(1):
        for service in stack.services():
            if not service.alive() and not service.expected_down:
                stack.restarts.append(service.name)
                log(f"{service.name} exited on its own (code {service.process.returncode}); "
                    "starting it again")  # fmt: skip
                service.start()


# After Redis is back, the workers are watched this long: a consumer notices the lost
# connection, retries and reconnects within a few seconds (or crashes).
REDIS_RESTART_WATCH_SECONDS = 8.0


def _pid(service: Service) -> int | None:
    return service.process.pid if service.alive() and service.process is not None else None


def restart_redis_under_workers(
    stack: Stack, timeline: Timeline, duration: float, stopping: threading.Event
) -> None:
    """Redis restarted (no persistence: queued tasks are lost) under busy workers,
    which must survive in-process: the same PID before and after, no supervisor restart
    (check_workers_survived_redis_restart)."""
    with timeline.phase("redis restart"):
        before = {worker.name: _pid(worker) for worker in stack.workers}
        log("fault: Redis restarted (no persistence: queued tasks are lost)")
        stack.rds.stop()
        stopping.wait(max(3.0, duration * 0.02))
        stack.rds.start()
        log("Redis back")
        lost: dict[str, int | None] = {}
        watch_until = time.monotonic() + REDIS_RESTART_WATCH_SECONDS
        while time.monotonic() < watch_until and not stopping.is_set():
            for worker in stack.workers:
                if _pid(worker) != before[worker.name]:
                    lost.setdefault(worker.name, None)
            stopping.wait(0.2)
        stack.redis_restart_pids = {
            worker.name: (
                before[worker.name],
                None if worker.name in lost else _pid(worker),
            )
            for worker in stack.workers
        }


def check_workers_survived_redis_restart(stack: Stack) -> list[Check]:
    pids = stack.redis_restart_pids
    survived = bool(pids) and all(
        before is not None and before == after for before, after in pids.values()
    )
    detail = (
        ", ".join(
            f"{name} PID {before} -> {after if after is not None else 'exited'}"
            for name, (before, after) in pids.items()
        )
        or "the Redis restart did not run"
    )
    return [Check("workers survived the Redis restart in-process", survived, detail)]


def run_faults(
    stack: Stack, timeline: Timeline, duration: float, stopping: threading.Event
) -> None:
    """The faults, one at a time, at fixed fractions of the traffic's duration."""
    started = time.monotonic()
    fault_length = max(6.0, duration * 0.09)

    def at(fraction: float) -> bool:
        return not stopping.wait(max(0.0, started + duration * fraction - time.monotonic()))

    with timeline.phase("calm"):
        if not at(0.10):
            return
    victim = stack.workers[0]
    with timeline.phase("worker kill -9"):
        log("fault: kill -9 worker-1")
        victim.kill9()
        stopping.wait(max(4.0, duration * 0.04))
        victim.start()
        log("worker-1 started again")
        if not at(0.18):
            return
    twilio_outage(stack, timeline, duration, stopping)
    for mode in ("500", "slow"):
        with timeline.phase(f"twilio {mode}"):
            log(f"fault: Twilio answers {mode}")
            stack.fake.fault(
                mode, retry_after=RETRY_AFTER_SECONDS, delay=TWILIO_TIMEOUT_SECONDS + 2
            )
            stopping.wait(fault_length)
            stack.fake.fault("")
    with timeline.phase("calm 2"):
        if not at(0.55):
            return
    restart_redis_under_workers(stack, timeline, duration, stopping)
    with timeline.phase("calm 3"):
        if not at(0.70):
            return
    with timeline.phase("postgres restart"):
        log("fault: PostgreSQL restarted")
        down = time.monotonic()
        stack.pg.stop("fast")
        stopping.wait(max(5.0, duration * 0.03))
        stack.pg.start()
        timeline.outages.append((down, time.monotonic() + OUTAGE_GRACE_SECONDS))
        log("PostgreSQL back")
    with timeline.phase("calm 4"):
        at(1.0)


def twilio_outage_length(duration: float) -> float:
    return min(TWILIO_OUTAGE_SECONDS / TIME_SCALE, max(12.0, duration * 0.2))


def twilio_outage(
    stack: Stack, timeline: Timeline, duration: float, stopping: threading.Event
) -> None:
    """Twilio down for (compressed) ten minutes: every create answered 503, then 429
    with Retry-After for the second half."""
    length = twilio_outage_length(duration)
    with timeline.phase("twilio outage 503"):
        log(f"fault: Twilio outage, 503 for {length / 2:.0f} s")
        stack.fake.fault("503")
        stopping.wait(length / 2)
    with timeline.phase("twilio outage 429"):
        log(f"fault: Twilio outage, 429 with Retry-After {TWILIO_OUTAGE_RETRY_AFTER_SECONDS} s")
        stack.fake.fault("429", retry_after=TWILIO_OUTAGE_RETRY_AFTER_SECONDS)
        stopping.wait(length / 2)
    stack.fake.fault("")
    log("Twilio healthy again")


# --- After the traffic: drain and checks ----------------------------------------------


def backlog(stack: Stack) -> dict[str, int]:
    with stack.pg.connect() as conn:
        submissions = conn.execute(
            "SELECT count(*) FROM intake_submission WHERE processed_at IS NULL"
        ).fetchone()[0]
        messages = conn.execute(
            "SELECT count(*) FROM notifications_message WHERE status IN ('pending', 'sending')"
            " OR (status = 'scheduled' AND send_after <= now())"
        ).fetchone()[0]
    return {"submissions": submissions, "messages": messages, "broker": stack.rds.queued()}


def watch_backlog(
    stack: Stack, samples: list[tuple[float, dict[str, int]]], stopping: threading.Event
) -> None:
    """The backlog every two seconds while the drill runs (nothing while PostgreSQL is down)."""
    while not stopping.wait(2):
        try:
            samples.append((time.monotonic(), backlog(stack)))
        except (psycopg.Error, redis.RedisError):
            continue


def backlog_peaks(
    samples: list[tuple[float, dict[str, int]]], timeline: Timeline
) -> dict[str, str]:
    """Per phase, the most unprocessed submissions / unfinished messages / broker tasks
    seen at once."""
    peaks: dict[str, list[int]] = {}
    for moment, sample in samples:
        phase = peaks.setdefault(timeline.phase_of(moment), [0, 0, 0])
        for index, name in enumerate(("submissions", "messages", "broker")):
            phase[index] = max(phase[index], sample[name])
    return {name: "/".join(map(str, values)) for name, values in peaks.items()}


def caught_up_after_faults(
    samples: list[tuple[float, dict[str, int]]], timeline: Timeline
) -> float | None:
    """Seconds from the end of the last fault to the first moment, traffic still
    running, with nothing unprocessed, unfinished or queued; None if never."""
    ends = [
        p.ended for p in timeline.phases if not p.name.startswith(("calm", "drain")) and p.ended
    ]
    if not ends:
        return None
    last = max(ends)
    drain_started = next((p.started for p in timeline.phases if p.name == "drain"), None)
    for moment, sample in samples:
        if drain_started is not None and moment >= drain_started:
            break
        if moment >= last and not any(sample.values()):
            return moment - last
    return None


def drain(stack: Stack) -> tuple[float | None, dict[str, int]]:
    started = time.monotonic()
    last: dict[str, int] = {}
    while time.monotonic() - started < DRAIN_LIMIT_SECONDS:
        try:
            last = backlog(stack)
        except (psycopg.Error, redis.RedisError) as error:
            last = {"error": 1}
            log(f"drain: {type(error).__name__}")
        if last and not any(last.values()):
            return time.monotonic() - started, last
        time.sleep(1)
    return None, last


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def check_leads(stack: Stack, record: Record) -> list[Check]:
    leads = list(record.leads.values())
    references = [lead.reference for lead in leads]
    with stack.pg.connect() as conn:
        rows = conn.execute(
            "SELECT s.reference, s.id, s.processed_at IS NOT NULL,"
            " (SELECT count(*) FROM scheduling_callback c WHERE c.lead_id = s.lead_id)"
            " FROM intake_submission s WHERE s.reference = ANY(%s)",
            [references],
        ).fetchall()
        messages = conn.execute(
            "SELECT dedupe_key, status, error_code FROM notifications_message"
            " WHERE dedupe_key LIKE 'confirmation:%%'"
        ).fetchall()
    found = {
        reference: (sid, processed, callbacks) for reference, sid, processed, callbacks in rows
    }
    missing = [reference for reference in references if reference not in found]
    unprocessed = [r for r in references if r in found and not found[r][1]]
    callbacks = Counter(found[r][2] for r in references if r in found)
    confirmations = {key: (status, code) for key, status, code in messages}
    delivered = {"sent", "delivered"}
    with_reason = {"suppressed", "failed", "undelivered"}
    outcome: Counter[str] = Counter()
    for lead in leads:
        if lead.reference not in found:
            continue
        submission_id = found[lead.reference][0]
        wanted = []
        if lead.phone and lead.sms_consent:
            wanted.append("sms")
        if lead.email:
            wanted.append("email")
        for channel in wanted:
            status, code = confirmations.get(
                f"confirmation:{channel}:submission:{submission_id}", ("missing", "")
            )
            if status in delivered:
                outcome[f"{channel} sent"] += 1
            elif status in with_reason and code:
                outcome[f"{channel} {status} ({code})"] += 1
            else:
                outcome[f"{channel} NOT DONE ({status})"] += 1
        if lead.phone and not lead.sms_consent:
            sms_key = f"confirmation:sms:submission:{submission_id}"
            outcome["sms without consent: " + ("SENT" if sms_key in confirmations else "none")] += 1
    not_done = sum(n for name, n in outcome.items() if "NOT DONE" in name or "SENT" in name)
    return [
        Check(
            "every 201 reference exists",
            not missing and bool(references),
            f"{len(references)} accepted, {len(missing)} missing"
            + (f" (given up after retries: {record.given_up})" if record.given_up else ""),
        ),
        Check(
            "every accepted lead has exactly one callback",
            not unprocessed and set(callbacks) <= {1},
            f"{len(unprocessed)} unprocessed; callbacks per lead: "
            + ", ".join(f"{n}: {count}" for n, count in sorted(callbacks.items())),
        ),
        Check(
            "confirmations sent, or a recorded reason",
            not_done == 0,
            "; ".join(f"{name}: {n}" for name, n in sorted(outcome.items())),
        ),
    ]


def duplicate_details(
    stack: Stack, timeline: Timeline, duplicated: list[tuple[str, str]]
) -> list[str]:
    """For each text Twilio took more often than recorded: which message (by id, no
    personal data), and when and in which phase each try reached Twilio."""
    lines = []
    with stack.pg.connect() as conn:
        for to, body in duplicated:
            found = [
                row[:5]
                for row in conn.execute(
                    "SELECT id, purpose, attempts, error_code, status, body"
                    " FROM notifications_message WHERE channel = 'sms' AND recipient = %s",
                    [to],
                ).fetchall()
                if stack.plain(row[5]) == body
            ]
            tries = [
                create.received_at - WALL_TO_MONOTONIC
                for create in stack.fake.creates
                if create.form.get("To") == to and create.form.get("Body") == body
            ]
            lines.append(
                "    duplicate: "
                + ", ".join(
                    f"message #{mid} ({purpose}, {status}, {attempts} attempts, last error "
                    f"{code or 'none'})"
                    for mid, purpose, attempts, code, status in found
                )
                + "; tries at "
                + ", ".join(
                    f"{moment - STARTED:.1f} s ({timeline.phase_of(moment)})" for moment in tries
                )
            )
    return lines


def check_sms(stack: Stack, record: Record, timeline: Timeline) -> list[Check]:
    with stack.pg.connect() as conn:
        rows = conn.execute(
            "SELECT recipient, body, provider_id FROM notifications_message"
            " WHERE channel = 'sms' AND provider_id <> ''"
        ).fetchall()
    taken = stack.fake.messages
    recorded_ids = Counter(provider_id for _r, _b, provider_id in rows)
    orphans = [m for m in taken if m["sid"] not in recorded_ids]
    shared = [sid for sid, n in recorded_ids.items() if n > 1]
    per_text_taken = Counter((m["to"], m["body"]) for m in taken)
    per_text_rows = Counter((recipient, stack.plain(body)) for recipient, body, _p in rows)
    duplicated = [key for key, n in per_text_taken.items() if n > per_text_rows[key]]
    twice = sum(per_text_taken[key] - per_text_rows[key] for key in duplicated)
    details = duplicate_details(stack, timeline, duplicated)
    creates = stack.fake.creates
    late = [
        create
        for create in creates
        if create.form.get("To") in record.stops
        and create.received_at > record.stops[create.form["To"]]
    ]
    return [
        Check(
            "no duplicate SMS",
            not orphans and not shared and twice == 0,
            f"{len(taken)} taken by Twilio of {len(creates)} sends tried; "
            f"{len(orphans)} not matching a message, {len(shared)} ids shared, "
            f"{twice} texts taken more often than recorded"
            + "".join("\n" + line for line in details),
        ),
        Check(
            "no SMS to an opted-out number",
            not late,
            f"{len(record.stops)} STOPs acknowledged; {len(late)} sends tried after one",
        ),
    ]


def check_twilio_outage(stack: Stack, timeline: Timeline) -> list[Check]:
    """After a 429 with Retry-After, the same text came back no sooner; and no text
    failed for the outage (each was sent once Twilio recovered: check_leads, check_sms)."""
    phase = next((p for p in timeline.phases if p.name == "twilio outage 429"), None)
    if phase is None:
        return []
    # A create that reached the fake just as the phase began may still have had a 503.
    start, end = phase.started + 0.05, phase.ended or time.monotonic()
    tries: dict[tuple[str, str], list[float]] = defaultdict(list)
    for create in stack.fake.creates:
        tries[(create.form.get("To", ""), create.form.get("Body", ""))].append(
            create.received_at - WALL_TO_MONOTONIC
        )
    gaps = [
        later - earlier
        for moments in tries.values()
        for earlier, later in zip(sorted(moments), sorted(moments)[1:], strict=False)
        if start <= earlier <= end
    ]
    too_soon = [gap for gap in gaps if gap < TWILIO_OUTAGE_RETRY_AFTER_SECONDS - 0.25]
    with stack.pg.connect() as conn:
        failed = conn.execute(
            "SELECT count(*) FROM notifications_message WHERE channel = 'sms'"
            " AND status = 'failed' AND error_code IN ('20503', '20429', '20500')"
        ).fetchone()[0]
    return [
        Check(
            "Twilio's Retry-After honoured",
            not too_soon,
            f"{len(gaps)} retries after a 429, {len(too_soon)} sooner than "
            f"{TWILIO_OUTAGE_RETRY_AFTER_SECONDS} s"
            + (f" (shortest {min(gaps):.1f} s)" if gaps else ""),
        ),
        Check(
            "no text given up for the Twilio outage",
            failed == 0,
            f"{failed} texts failed with a Twilio outage code "
            f"({twilio_outage_length_note(timeline)})",
        ),
    ]


def twilio_outage_length_note(timeline: Timeline) -> str:
    lengths = [
        (p.ended or time.monotonic()) - p.started
        for p in timeline.phases
        if p.name.startswith("twilio outage")
    ]
    total = sum(lengths)
    return f"outage {total:.0f} s, {total * TIME_SCALE / 60:.0f} min at production pace"


def check_answers(record: Record, timeline: Timeline) -> tuple[list[Check], list[tuple[str, str]]]:
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    bad_outside: Counter[str] = Counter()
    bad_inside: Counter[str] = Counter()
    for hit in record.hits:
        phase = timeline.phase_of(hit.started)
        counts = rows[phase]
        counts["requests"] += 1
        inside = timeline.in_outage(hit)
        if hit.status == 0:
            counts["no answer"] += 1
        elif hit.status >= 500:
            counts["5xx"] += 1
            if hit.status == 503 and hit.retry_after:
                counts["503+Retry-After"] += 1
        if inside:
            if hit.status >= 500 and not (hit.status == 503 and hit.retry_after):
                bad_inside[f"{hit.kind} {hit.status}"] += 1
        elif hit.status == 0 or hit.status >= 500:
            bad_outside[f"{hit.kind} {hit.status or 'no answer'}"] += 1
    order = list(dict.fromkeys(phase.name for phase in timeline.phases))
    table = [("phase", f"  {'phase':<18}{'requests':>9}{'5xx':>6}{'503+RA':>8}{'no answer':>11}")]
    for name in order:
        counts = rows.get(name, Counter())
        table.append(
            (
                name,
                f"  {name:<18}{counts['requests']:>9}{counts['5xx']:>6}"
                f"{counts['503+Retry-After']:>8}{counts['no answer']:>11}",
            )
        )
    checks = [
        Check(
            "no 5xx or unanswered request outside the PostgreSQL outage",
            not bad_outside,
            ", ".join(f"{k}: {n}" for k, n in bad_outside.items()) or "none",
        ),
        Check(
            "in the PostgreSQL outage, only 503 with Retry-After",
            not bad_inside,
            ", ".join(f"{k}: {n}" for k, n in bad_inside.items()) or "none",
        ),
    ]
    return checks, table


# --- Running it --------------------------------------------------------------------------------


def start_stack(root: Path) -> tuple[Stack, dict[str, str], dict[str, str]]:
    pg, rds = Postgres(root), Redis(root)
    log(f"own PostgreSQL on {HOST}:{pg.port} ({pg.bin}), own Redis on {HOST}:{rds.port}")
    fake = FakeTwilio().start()
    web_port = free_port()
    env = stack_env(pg, rds, web_port, fake)
    staff_password = secrets.token_urlsafe(18)
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    web = Service(
        "gunicorn",
        [
            PYTHON, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"{HOST}:{web_port}", "--workers", "2", "--worker-class", "gthread",
            "--threads", "4", "--timeout", "30", "--graceful-timeout", "5",
        ],
        env,
        root,
    )  # fmt: skip
    workers = [
        Service(
            f"worker-{n}",
            [
                *celery,
                "worker",
                "--loglevel=WARNING",
                "--concurrency=2",
                "-Q",
                QUEUES,
                "-n",
                f"drill-{n}-{os.getpid()}@localhost",
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            root,
        )
        for n in (1, 2)
    ]
    beat = Service(
        "beat",
        [*celery, "beat", "--loglevel=WARNING", "--schedule", str(root / "beat.schedule")],
        env,
        root,
    )
    stack = Stack(
        root,
        pg,
        rds,
        fake,
        web,
        workers,
        beat,
        f"http://{HOST}:{web_port}",
        field_keys=env["FIELD_ENCRYPTION_KEYS"],
    )
    try:
        pg.init()
        pg.start()
        rds.start()
        staff_tokens = prepare_database(pg, env, staff_password)
        for service in stack.services():
            service.start()
        wait_for_web(web_port, web)
    except BaseException:
        # Nothing of the drill's may outlive it, whatever failed.
        stop_stack(stack)
        raise
    return stack, env, staff_tokens


def stop_stack(stack: Stack) -> None:
    for service in stack.services():
        service.stop()
    stack.fake.stop()
    stack.rds.stop()
    if stack.pg.running():
        try:
            stack.pg.stop("immediate")
        except subprocess.SubprocessError as error:
            log(f"could not stop the drill's PostgreSQL: {error}")


def report(
    *,
    duration: float,
    record: Record,
    timeline: Timeline,
    stack: Stack,
    drained_in: float | None,
    left: dict[str, int],
    samples: list[tuple[float, dict[str, int]]],
) -> bool:
    checks = [*check_leads(stack, record), *check_sms(stack, record, timeline)]
    checks += check_twilio_outage(stack, timeline)
    answer_checks, table = check_answers(record, timeline)
    checks += answer_checks
    checks += check_workers_survived_redis_restart(stack)
    checks.append(
        Check(
            f"queues drained within {DRAIN_LIMIT_SECONDS} s",
            drained_in is not None,
            f"drained in {drained_in:.1f} s" if drained_in is not None else f"still queued: {left}",
        )
    )
    checks.append(
        Check(
            "coordinators worked the queue through the API",
            record.claims > 0 and record.attempts > 0,
            f"{record.claims} claims, {record.attempts} outcomes logged",
        )
    )
    if record.errors:
        checks.append(
            Check("the traffic ran without errors", False, record.errors[0].strip()[:500])
        )
    kinds = Counter(hit.kind for hit in record.hits)
    print()
    print(f"Failure drill: {duration:.0f} s of traffic, faults one at a time")
    print(
        f"  requests: {len(record.hits)} ("
        + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        + ")"
    )
    print(
        f"  leads accepted {len(record.leads)}, beacon events {record.events}, claims "
        f"{record.claims}, attempts logged {record.attempts}, status callbacks "
        f"{record.status_callbacks}, STOPs {len(record.stops)}"
    )
    print(
        f"  SMS: {len(stack.fake.creates)} sends tried at Twilio, {len(stack.fake.messages)} taken"
    )
    print(
        "  staff sign-in failures: "
        + (", ".join(f"{k} x{n}" for k, n in record.sign_in_failures.items()) or "none")
    )
    print(
        "  processes that died on their own and were restarted: "
        + (", ".join(stack.restarts) or "none")
    )
    answers: dict[str, Counter[int]] = defaultdict(Counter)
    for hit in record.hits:
        answers[hit.kind][hit.status] += 1
    print("Answers by kind (HTTP status: count; 0 is no answer):")
    for kind, statuses in sorted(answers.items()):
        print(f"  {kind:<8} " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    peaks = backlog_peaks(samples, timeline)
    print(
        "Answers by phase (503+RA: 503 with Retry-After; backlog peak: unprocessed"
        " submissions/unfinished messages/broker tasks):"
    )
    for name, line in table:
        print(line + f"{'backlog peak' if name == 'phase' else peaks.get(name, '-'):>15}")
    caught_up = caught_up_after_faults(samples, timeline)
    print(
        "Caught up (backlog empty) with traffic still running: "
        + (f"{caught_up:.0f} s" if caught_up is not None else "not before the traffic stopped")
        + " after the last fault ended"
    )
    print(
        "Drain after the traffic stopped: "
        + (f"{drained_in:.1f} s" if drained_in is not None else "NOT within the limit")
        + f" (limit {DRAIN_LIMIT_SECONDS} s)"
    )
    print("Checks:")
    for check in checks:
        print(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    passed = all(check.passed for check in checks)
    print("ALL CHECKS PASSED" if passed else "SOME CHECKS FAILED", flush=True)
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of traffic")
    parser.add_argument("--short", action="store_true", help="a 60 s run (CI)")
    parser.add_argument("--lead-rate", type=float, default=3.0, help="leads per second")
    parser.add_argument("--keep", action="store_true", help="keep the logs even if it passes")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    duration = 60.0 if args.short else args.duration
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    problems = missing_tools()
    if problems:
        raise SystemExit("drill: " + "; ".join(problems))
    root = Path(tempfile.mkdtemp(prefix="clinic-drill-"))
    log(f"seed {seed}; logs in {root}")
    stack = None
    passed = False
    stopping = threading.Event()
    try:
        stack, _env, staff_tokens = start_stack(root)
        record, timeline = Record(), Timeline()
        traffic = Traffic(stack.base_url, stack.fake, record, staff_tokens, seed)
        supervisor = threading.Thread(target=supervise, args=(stack, stopping), daemon=True)
        supervisor.start()
        samples: list[tuple[float, dict[str, int]]] = []
        threading.Thread(target=watch_backlog, args=(stack, samples, stopping), daemon=True).start()
        log(f"traffic for {duration:.0f} s at about {args.lead_rate} leads per second")
        traffic.start(lead_rate=args.lead_rate)
        run_faults(stack, timeline, duration, stopping)
        stack.fake.fault("")
        with timeline.phase("drain"):
            traffic.stop()
            log("traffic stopped; waiting for the queues to drain")
            drained_in, left = drain(stack)
        passed = report(
            duration=duration,
            record=record,
            timeline=timeline,
            stack=stack,
            drained_in=drained_in,
            left=left,
            samples=samples,
        )
    finally:
        stopping.set()
        if stack is not None:
            stop_stack(stack)
        if passed and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"logs kept in {root}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
