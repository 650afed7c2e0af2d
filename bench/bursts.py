"""Bursts end to end, issue 24's targets in one run: `.venv/bin/python bench/bursts.py`.

Starts the whole stack on this machine, all co-located: gunicorn (3 gthread workers x
2 threads, production settings via bench/settings.py), PostgreSQL (the running one,
a fresh migrated ``clinic_bench_bursts`` database, dropped at the end), Redis (the
running one, one logical database, ``--redis-db``, broker and cache, flushed before
and after; nothing else is touched), the Celery workers of ``WORKERS`` below and beat,
and a recording fake Twilio (its own process: Twilio's Messages API over keep-alive
HTTP/1.1, noting when each message arrives). SMS pacing is 10,000 a second, so the
provider is not the limit; emails go to Django's dummy backend (rendered, not written).

Every lead is a new person (a distinct valid US number, +1 202 555 xxxx onwards,
with SMS consent, and an email). The load generator is its own process: open loop
(request i goes at start + i/rate whatever happened before), many keep-alive
connections, bodies built before the clock starts; it notes when each request went.

- A: 100 leads/s for 60 s. Every SMS at the provider; submit -> SMS at provider p99
  <= 1 s (submit = when the client sent the POST; each SMS matched to its POST by the
  number it went to); submit -> routed (``processed_at - created_at``) p99 <= 5 s; 0 left
  unrouted.
- B: 200 leads/s for 30 s. Submit -> SMS at provider p99 <= 10 s; 0 lost after a drain
  of up to ``--drain`` seconds.
- C: the POST's closed-loop maximum beside the bare one-INSERT view's (bench/load.py, as
  bench/intake.py measures them), with the workers and beat stopped first so that only
  the web side runs, as there: POST >= 400 req/s and >= 0.5x the bare insert.
- D: CPU per lead over A (from the first POST until every SMS, routing and email
  confirmation of A is done): utime + stime from /proc of every gunicorn, Celery and
  PostgreSQL process (this database's backends and the server's shared background
  processes; other databases' backends are left out and shown) and redis-server
  (shared with whatever else uses it), divided by the leads: <= 15 ms.

Also printed: the open-loop send lag (how late the generator sent, so a saturated
client shows), the achieved offered rate, and the generator's and the fake's own CPU.
``--quick`` (or BENCH_QUICK=1, ``bench/run.py --quick``) runs tiny sizes in seconds to
check that it works; its figures say nothing about the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import (
    BASE_DIR,
    BASELINE_INSERT,
    BASELINE_TABLE_SQL,
    HOST,
    LEADS,
    PG,
    Loader,
    check_services,
    free_port,
    manage,
    psql,
    server_env,
    start_gunicorn,
    stop,
)
from bench.load import Client, reader_address
from bench.results import RESULT_PREFIX, quick_mode, result


@dataclass(frozen=True)
class Worker:
    name: str
    queues: tuple[str, ...]
    pool: str
    concurrency: int


# The worker topology (issue 24): confirmations on their own pool, the rest on another.
# Used when config.celery declares every queue named here; otherwise SINGLE_WORKER.
WORKERS = (
    Worker("confirmations", ("confirmations",), "threads", 16),
    Worker("main", ("scheduling", "notifications", "default"), "prefork", 2),
)
# Before issue 24: one worker of two processes for every queue.
SINGLE_WORKER = (Worker("main", ("notifications", "scheduling", "default"), "prefork", 2),)

DATABASE = "clinic_bench_bursts"
REDIS_DB = 6
SMS_MAX_PER_SECOND = 10_000
SLUG = "science-behind-antidepressants"
MAX_IN_FLIGHT = 1024
POST_TIMEOUT_SECONDS = 30.0
TARGETS = {
    "sms_p99_a_ms": 1000.0,
    "routed_p99_a_s": 5.0,
    "sms_p99_b_s": 10.0,
    "post_max": 400.0,
    "post_ratio": 0.5,
    "cpu_ms_per_lead": 15.0,
}
ACCOUNT_SID = "AC" + secrets.token_hex(16)
AUTH_TOKEN = secrets.token_hex(16)
FROM_NUMBER = "+15005550006"


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def context(figure: str, measured: float, unit: str) -> None:
    """A figure without a target, for bench/run.py's table (target and met null)."""
    finite = measured == measured and abs(measured) != float("inf")
    value = round(float(measured), 3) if finite else None
    line = {"figure": figure, "measured": value, "unit": unit, "target": None, "met": None}
    print(RESULT_PREFIX + json.dumps(line), flush=True)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank of the sorted ``values``; missing ones are passed as infinity."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def phone_of(index: int) -> str:
    """Lead ``index``'s number: +1 202 555 0000 onwards (valid, US, one each)."""
    return f"+1202{555 + index // 10_000}{index % 10_000:04d}"


# --- The fake Twilio: its own process, asyncio, keep-alive HTTP/1.1 ------------------------

MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json")
MESSAGE_PATH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages/(SM[0-9a-f]{32})\.json")
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


class FakeProvider:
    """Answers the three calls the SMS backend makes (create, fetch, list) like Twilio
    and notes (number, arrival time) of every create; ``GET /bench/arrivals`` returns
    them with this process's CPU seconds."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.authorization = f"Basic {token}"
        self.messages: dict[str, dict] = {}
        self.arrivals: list[tuple[str, float]] = []

    @staticmethod
    def error(status: int, code: int, message: str) -> tuple[int, dict]:
        info = f"https://www.twilio.com/docs/errors/{code}"
        return status, {"code": code, "message": message, "more_info": info, "status": status}

    def answer(self, method: str, target: str, headers: dict, body: bytes, at: float):
        split = urlsplit(target)
        if split.path == "/bench/arrivals":
            start = int(parse_qs(split.query).get("from", ["0"])[-1])
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            return 200, {"arrivals": self.arrivals[start:], "cpu": cpu}
        if headers.get("authorization") != self.authorization:
            return self.error(401, 20003, "Authenticate")
        if (match := MESSAGES_PATH.fullmatch(split.path)) and match[1] == self.account_sid:
            if method == "POST":
                return self.create(parse_qs(body.decode()), at)
            if method == "GET":
                return self.listing(split.path, parse_qs(split.query))
        match = MESSAGE_PATH.fullmatch(split.path)
        if match and match[1] == self.account_sid and method == "GET" and match[2] in self.messages:
            return 200, self.messages[match[2]]
        return self.error(404, 20404, f"The requested resource {split.path} was not found")

    def create(self, form: dict[str, list[str]], at: float) -> tuple[int, dict]:
        to = form.get("To", [""])[-1]
        text = form.get("Body", [""])[-1]
        sender = form.get("From", [""])[-1]
        service = form.get("MessagingServiceSid", [""])[-1]
        if not re.fullmatch(r"\+[1-9]\d{1,14}", to):
            return self.error(400, 21211, "Invalid 'To' Phone Number")
        if not text:
            return self.error(400, 21602, "Message body is required.")
        if not (sender or service):
            return self.error(400, 21603, "The 'From' phone number is required.")
        self.arrivals.append((to, at))
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(at, usegmt=True).replace("GMT", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": text,
            "date_created": now,
            "date_sent": now,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or FROM_NUMBER,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "sent",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }
        self.messages[sid] = message
        return 201, {**message, "status": "queued" if sender else "accepted", "date_sent": None}

    def listing(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        to = query.get("To", [""])[-1]
        size = min(int(query.get("PageSize", ["50"])[-1]), 1000)
        found = [m for m in reversed(self.messages.values()) if not to or m["to"] == to][:size]
        uri = f"{path}?{urlencode({'To': to, 'PageSize': size, 'Page': 0})}"
        return 200, {
            "messages": found,
            "end": max(len(found) - 1, 0),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                status, payload = self.answer(method, target, headers, body, time.time())
                content = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(content)}\r\n"
                    f"Twilio-Request-Id: RQ{secrets.token_hex(16)}\r\n\r\n".encode()
                    + content
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


def fake_twilio_main(port: int, account_sid: str, auth_token: str) -> None:
    """The fake's process (multiprocessing target)."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    provider = FakeProvider(account_sid, auth_token)

    async def run() -> None:
        server = await asyncio.start_server(provider.serve, HOST, port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


class Arrivals:
    """What the fake saw, read incrementally: arrival times by number, its CPU seconds."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.by_number: dict[str, list[float]] = {}
        self.seen = 0
        self.cpu = 0.0

    def refresh(self) -> Arrivals:
        url = f"http://{HOST}:{self.port}/bench/arrivals?from={self.seen}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            data = json.loads(answer.read())
        for to, at in data["arrivals"]:
            self.by_number.setdefault(to, []).append(at)
        self.seen += len(data["arrivals"])
        self.cpu = data["cpu"]
        return self


# --- The load generator: its own process, open loop ----------------------------------------


def lead_request(campaign: str, index: int) -> tuple[bytes, dict[str, str]]:
    body = {
        "first_name": "Bench",
        "phone": phone_of(index),
        "email": f"burst-{campaign}-{index}@example.org",
        "preferred_channel": "call",
        "best_time": "anytime",
        "timezone": "America/New_York",
        "sms_consent": True,
        "article": SLUG,
        "page_url": f"https://clinic.example/articles/{SLUG}/",
        "utm_source": "bench",
        "utm_campaign": campaign,
    }
    headers = {"Idempotency-Key": f"{campaign}-{index}", "X-Forwarded-For": reader_address(index)}
    return json.dumps(body).encode(), headers


class Sent(NamedTuple):
    """One POST of the open loop, wall-clock seconds: when it was due, when the generator
    got to it, when it went (after waiting for one of MAX_IN_FLIGHT slots), when its
    answer came; and the answer (the status, "timeout" or the connection error)."""

    due: float
    started: float
    sent: float
    done: float
    status: str


async def open_loop(port: int, rate: float, requests: list[tuple[bytes, dict]]) -> list[Sent]:
    client = Client(HOST, port)
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    records: list[Sent] = []
    start = loop.time() + 0.1
    to_wall = time.time() - loop.time()

    async def one(k: int, due: float) -> Sent:
        body, headers = requests[k]
        started = loop.time()
        async with gate:
            sent = loop.time()
            try:
                answer = await asyncio.wait_for(
                    client.post(LEADS, body, headers), POST_TIMEOUT_SECONDS
                )
                status = str(answer)
            except TimeoutError:
                status = "timeout"
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                status = type(error).__name__
            done = loop.time()
        return Sent(*(moment + to_wall for moment in (due, started, sent, done)), status)

    tasks = []
    for k in range(len(requests)):
        due = start + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k, due)))
    records.extend(await asyncio.gather(*tasks))
    return records


def loadgen_main(connection, port: int, rate: float, first: int, count: int, campaign: str):
    """The generator's process (multiprocessing target): sends its records back."""
    requests = [lead_request(campaign, index) for index in range(first, first + count)]
    before = resource.getrusage(resource.RUSAGE_SELF)
    records = asyncio.run(open_loop(port, rate, requests))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    connection.send({"records": [tuple(record) for record in records], "cpu": cpu})
    connection.close()


def generate(port: int, rate: float, first: int, count: int, campaign: str) -> dict:
    spawn = multiprocessing.get_context("spawn")
    receive, send = spawn.Pipe(duplex=False)
    process = spawn.Process(
        target=loadgen_main, args=(send, port, rate, first, count, campaign), daemon=True
    )
    process.start()
    send.close()
    try:
        if not receive.poll(count / rate + POST_TIMEOUT_SECONDS + 120):
            raise RuntimeError("the load generator did not finish")
        return receive.recv()
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


# --- CPU from /proc ---------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, int, int, int] | None:
    """(ppid, pgid, utime + stime ticks, start time) of a process, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]), int(fields[19])


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class CpuMeter(threading.Thread):
    """CPU seconds by role (web, workers, database, redis, other databases), sampled
    every half second so processes that start or end in between are counted (those
    born after the start count from zero), plus the whole machine's busy time."""

    def __init__(self, groups: dict[int, str], postmaster: int, redis: int, database: str):
        super().__init__(daemon=True)
        self.groups, self.postmaster, self.redis = groups, postmaster, redis
        self.mine = re.compile(rf"postgres: .*\S+ {re.escape(database)} ")
        self.backend = re.compile(r"postgres: (\S+: )?\S+ \S+ \S+\(\d+\)")
        self.tick = os.sysconf("SC_CLK_TCK")
        self.first: dict[tuple[int, int], int] = {}
        self.last: dict[tuple[int, int], int] = {}
        self.role: dict[tuple[int, int], str] = {}
        self.stopping = threading.Event()
        self.busy_start = self.machine_busy()
        self.sample(initial=True)
        self.started_at = time.monotonic()

    def machine_busy(self) -> float:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return (sum(values) - values[3] - values[4]) / self.tick

    def classify(self, pid: int, ppid: int, pgid: int) -> str | None:
        if pgid in self.groups:
            return self.groups[pgid]
        if pid == self.redis:
            return "redis"
        if pid == self.postmaster or ppid == self.postmaster:
            title = cmdline(pid)
            if pid != self.postmaster and not title.startswith("postgres:"):
                return None  # just forked, not yet titled: looked at again next time
            if self.mine.search(title) or not self.backend.search(title):
                return "database"  # this database's backends, the shared background
            return "other databases"
        return None

    def sample(self, initial: bool = False) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            stat = proc_stat(pid)
            if stat is None:
                continue
            ppid, pgid, ticks, started = stat
            key = (pid, started)
            if key not in self.role:
                role = self.classify(pid, ppid, pgid)
                if role is None:
                    continue
                self.role[key] = role
                self.first[key] = ticks if initial else 0
            self.last[key] = ticks

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            self.sample()

    def finish(self) -> tuple[dict[str, float], float, float]:
        """(CPU seconds by role, machine busy seconds, wall seconds) since the start."""
        self.stopping.set()
        self.join()
        self.sample()
        seconds: Counter[str] = Counter()
        for key, role in self.role.items():
            seconds[role] += (self.last[key] - self.first[key]) / self.tick
        busy = self.machine_busy() - self.busy_start
        return dict(seconds), busy, time.monotonic() - self.started_at


def postmaster_pid() -> int:
    import psycopg

    with psycopg.connect(dbname="postgres", **PG) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    stat = proc_stat(backend)
    assert stat is not None
    return stat[0]


def redis_pid(port: int) -> int:
    for name in filter(str.isdigit, os.listdir("/proc")):
        title = cmdline(int(name))
        if title.startswith("redis-server") and f":{port}" in title:
            return int(name)
    return -1


# --- The stack ----------------------------------------------------------------------------


@dataclass
class Stack:
    env: dict[str, str]
    port: int
    fake_port: int
    logs: Path
    workers: tuple[Worker, ...] = ()
    server: subprocess.Popen | None = None
    celery: list[subprocess.Popen] = field(default_factory=list)
    fake: multiprocessing.process.BaseProcess | None = None
    arrivals: Arrivals | None = None

    def groups(self) -> dict[int, str]:
        roles = {process.pid: "workers" for process in self.celery}
        if self.server is not None:
            roles[self.server.pid] = "web"
        return roles

    def start_celery(self) -> None:
        base = [sys.executable, "-m", "celery", "-A", "config"]
        quiet = ["--loglevel=WARNING", "--without-gossip", "--without-mingle"]
        commands = {}
        for worker in self.workers:
            commands[worker.name] = [
                *base, "worker", *quiet, "--without-heartbeat", "-n", f"{worker.name}@%h",
                "-P", worker.pool, "-c", str(worker.concurrency), "-Q", ",".join(worker.queues),
            ]  # fmt: skip
        commands["beat"] = [*base, "beat", "--loglevel=WARNING"]
        for name, command in commands.items():
            with (self.logs / f"bursts-{name}.log").open("wb") as output:
                self.celery.append(
                    subprocess.Popen(
                        command,
                        cwd=BASE_DIR,
                        env=self.env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def stop_celery(self) -> None:
        """A warm shutdown of each (SIGTERM to its main process: running tasks finish);
        its whole process group is stopped if that takes more than 20 s."""
        for process in self.celery:
            if process.poll() is None:
                process.terminate()
        for process in self.celery:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stop(process)
        self.celery.clear()


def declared_queues(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from config.celery import app; print(' '.join(q.name for q in app.conf.task_queues))",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def topology(queues: list[str]) -> tuple[Worker, ...]:
    """WORKERS when config.celery declares each of their queues, else SINGLE_WORKER; a
    declared queue that neither names goes to the last worker (said), so no task waits."""
    chosen = WORKERS if all(q in queues for w in WORKERS for q in w.queues) else SINGLE_WORKER
    consumed = {q for w in chosen for q in w.queues}
    if missing := tuple(q for q in queues if q not in consumed):
        log(f"no worker of the topology consumes {', '.join(missing)}: the last one does")
        last = chosen[-1]
        chosen = (
            *chosen[:-1],
            Worker(last.name, last.queues + missing, last.pool, last.concurrency),
        )
    return chosen


def prepare(env: dict[str, str]) -> None:
    """bench/intake.py's prepare_database, on this benchmark's own database."""
    psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{DATABASE}"')
    log(f"migrating {DATABASE}")
    manage(env, "migrate", "--noinput", "-v", "0")
    psql(BASELINE_TABLE_SQL, DATABASE)
    manage(
        env, "shell", "-v", "0", "-c",
        "from pathlib import Path; from intake.services import article_import_text; "
        f"article_import_text(slug='{SLUG}', "
        f"text=Path('intake/demo/{SLUG}.txt').read_text())",
    )  # fmt: skip


def redis_flush(db: int) -> None:
    import redis

    redis.Redis(host=HOST, port=6379, db=db, socket_timeout=5).flushdb()


def query(sql: str, *params) -> list[tuple]:
    import psycopg

    with psycopg.connect(dbname=DATABASE, **PG) as conn:
        return conn.execute(sql, params).fetchall()


def progress(campaign: str, since: float) -> tuple[dict[str, tuple[float, float | None]], int]:
    """Per number of this burst: (created_at, processed_at) in epoch seconds; and the
    email confirmations made since ``since`` that are still to be sent."""
    rows = query(
        "SELECT phone, extract(epoch FROM created_at)::float8,"
        " extract(epoch FROM processed_at)::float8"
        " FROM intake_submission WHERE utm_campaign = %s",
        campaign,
    )
    waiting = query(
        "SELECT count(*) FROM notifications_message WHERE channel = 'email'"
        " AND purpose = 'confirmation' AND status IN ('pending', 'sending')"
        " AND created_at >= to_timestamp(%s)",
        since,
    )[0][0]
    return {phone: (created, processed) for phone, created, processed in rows}, waiting


@dataclass
class Burst:
    name: str
    rate: float
    seconds: float
    first: int
    sent: list[Sent] = field(default_factory=list)
    loadgen_cpu: float = 0.0
    drained_in: float | None = None
    stored: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    emails_waiting: int = 0

    @property
    def count(self) -> int:
        return int(self.rate * self.seconds)

    @property
    def campaign(self) -> str:
        return f"burst-{self.name}"

    def phones(self) -> list[str]:
        return [phone_of(self.first + k) for k in range(self.count)]


def run_burst(stack: Stack, burst: Burst, drain: float) -> None:
    log(f"{burst.name}: {burst.rate:g} leads/s for {burst.seconds:g} s ({burst.count} leads)")
    started = time.time()
    out = generate(stack.port, burst.rate, burst.first, burst.count, burst.campaign)
    burst.sent = [Sent(*record) for record in out["records"]]
    burst.loadgen_cpu = out["cpu"]
    answered = {phone_of(burst.first + k) for k, r in enumerate(burst.sent) if r.status == "201"}
    deadline = time.monotonic() + drain
    posted_end = time.monotonic()
    while True:
        assert stack.arrivals is not None
        burst.arrivals = stack.arrivals.refresh().by_number
        burst.stored, burst.emails_waiting = progress(burst.campaign, started)
        # Every lead stored or answered 201 (a POST that timed out may be stored).
        expected = answered | set(burst.stored)
        arrived = sum(1 for phone in expected if phone in burst.arrivals)
        unrouted = sum(1 for _, processed in burst.stored.values() if processed is None)
        if arrived == len(expected) and not unrouted and not burst.emails_waiting:
            burst.drained_in = time.monotonic() - posted_end
            return
        if time.monotonic() >= deadline:
            log(
                f"{burst.name}: after {drain:g} s of drain {arrived}/{len(expected)} SMS,"
                f" {unrouted} unrouted, {burst.emails_waiting} email confirmations waiting"
            )
            return
        time.sleep(1)


@dataclass
class Figures:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, figure: str, value: float, unit: str, target: str | None, met, shown=None):
        if target is None:
            context(figure, value, unit)
        else:
            result(figure=figure, measured=value, unit=unit, target=target, met=met)
        if shown:
            text = shown
        elif value != value or abs(value) == float("inf"):
            text = "not measured"
        else:
            text = f"{value:,.0f} {unit}" if abs(value) >= 100 else f"{value:.3g} {unit}"
        verdict = "-" if target is None else ("met" if met else "NOT met")
        self.rows.append((figure, text.strip(), f"{target} {unit}" if target else "-", verdict))

    def print(self) -> None:
        header = ("figure", "measured", "target", "met")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(4)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        print()
        print(line.format(*header).rstrip())
        print(line.format(*("-" * w for w in widths)))
        for row in self.rows:
            print(line.format(*row).rstrip())
        print()


def burst_figures(figures: Figures, burst: Burst, drain: float) -> dict[str, float]:
    name, sent = burst.name, burst.sent
    leads = [(phone_of(burst.first + k), r) for k, r in enumerate(sent)]
    inf = float("inf")
    # Submit: when the client sent the POST (whatever the answer: one that timed out may
    # still have been stored and confirmed).
    to_sms = [min(burst.arrivals[p]) - r.sent if p in burst.arrivals else inf for p, r in leads]
    arrived = sum(1 for p, _ in leads if p in burst.arrivals)
    from_created = [
        min(burst.arrivals[p]) - burst.stored[p][0]
        for p, _ in leads
        if p in burst.arrivals and p in burst.stored
    ]
    routed = [
        (processed - created) if processed is not None else inf
        for created, processed in burst.stored.values()
    ]
    unrouted = sum(1 for value in routed if value == inf)
    mine = {p for p, _ in leads}
    duplicates = sum(len(times) - 1 for p, times in burst.arrivals.items() if p in mine)
    # The generator's own lateness, and the wait for a free slot (a server that falls
    # behind fills all MAX_IN_FLIGHT), in ms.
    lags = [(r.started - r.due) * 1000 for r in sent]
    slot_waits = [(r.sent - r.started) * 1000 for r in sent]
    posts = [(r.done - r.sent) * 1000 for r in sent if r.status == "201"]
    span = max(r.sent for r in sent) - min(r.sent for r in sent)
    achieved = (len(sent) - 1) / span if span > 0 else float("nan")
    statuses = Counter(r.status for r in sent)
    label = f"bursts {name} ({burst.rate:g}/s x {burst.seconds:g} s)"
    print(
        f"\n{label}: {len(sent)} POSTs sent at {achieved:.1f}/s achieved"
        f" (offered {burst.rate:g}/s); answers {dict(statuses)} (timeout: no answer within"
        f" {POST_TIMEOUT_SECONDS:g} s); POST p50 / p99 {percentile(posts, 0.5):.1f} /"
        f" {percentile(posts, 0.99):.1f} ms; send lag p50 / p99 / max"
        f" {percentile(lags, 0.5):.1f} / {percentile(lags, 0.99):.1f} / {max(lags):.1f} ms;"
        f" waits for one of {MAX_IN_FLIGHT} connections p99 {percentile(slot_waits, 0.99):.0f} ms;"
        f" generator CPU {burst.loadgen_cpu:.1f} s ({burst.loadgen_cpu / burst.seconds:.0%} of a"
        f" core); " + (
            f"drained {burst.drained_in:.1f} s after the last POST"
            if burst.drained_in is not None
            else f"NOT drained within {drain:g} s"
        )
    )  # fmt: skip
    sms_arrived = [value for value in to_sms if value != inf]
    print(
        f"{label}: {len(burst.stored)} stored, {len(routed) - unrouted} routed, {arrived} SMS"
        " at the provider; of those, submit -> SMS p50 / p99 / max"
        f" {percentile(sms_arrived, 0.5) * 1000:.0f} / {percentile(sms_arrived, 0.99) * 1000:.0f}"
        f" / {max(sms_arrived or [float('nan')]) * 1000:.0f} ms; from created_at p50 / p99"
        f" {percentile(from_created, 0.5) * 1000:.0f} / {percentile(from_created, 0.99) * 1000:.0f}"
        " ms"
    )
    figures.add(f"{label}: offered rate achieved", achieved, "leads/s", None, None)
    figures.add(f"{label}: open-loop send lag p99", percentile(lags, 0.99), "ms", None, None)
    figures.add(
        f"{label}: SMS at provider of leads offered",
        arrived,
        "SMS",
        f">= {len(sent)}",
        arrived >= len(sent),
        shown=f"{arrived:,} / {len(sent):,}",
    )
    p50, p99 = percentile(to_sms, 0.5), percentile(to_sms, 0.99)
    figures.add(f"{label}: submit -> SMS at provider p50", p50 * 1000, "ms", None, None)
    if name == "A":
        target = TARGETS["sms_p99_a_ms"]
        figures.add(
            f"{label}: submit -> SMS at provider p99",
            p99 * 1000, "ms", f"<= {target:g}", p99 * 1000 <= target,
        )  # fmt: skip
        target = TARGETS["routed_p99_a_s"]
        p99_routed = percentile(routed, 0.99)
        figures.add(
            f"{label}: submit -> routed p99",
            p99_routed, "s", f"<= {target:g}", p99_routed <= target,
        )  # fmt: skip
        figures.add(f"{label}: left unrouted", unrouted, "submissions", "== 0", unrouted == 0)
    else:
        target = TARGETS["sms_p99_b_s"]
        figures.add(
            f"{label}: submit -> SMS at provider p99",
            p99, "s", f"<= {target:g}", p99 <= target,
        )  # fmt: skip
        lost = len(sent) - arrived
        figures.add(f"{label}: SMS lost after the drain", lost, "leads", "== 0", lost == 0)
        figures.add(f"{label}: submit -> routed p99", percentile(routed, 0.99), "s", None, None)
    figures.add(f"{label}: duplicate SMS", duplicates, "SMS", "== 0", duplicates == 0)
    return {"leads": len(sent)}


def cpu_figures(figures: Figures, meter: tuple, leads: int, loadgen: float, fake: float) -> None:
    seconds, busy, wall = meter
    parts = {role: seconds.get(role, 0.0) for role in ("web", "workers", "database", "redis")}
    total = sum(parts.values())
    per_lead = total / leads * 1000 if leads else float("nan")
    others = max(0.0, busy - total - seconds.get("other databases", 0.0) - loadgen - fake)
    print(
        f"\nCPU over A ({wall:.0f} s, {leads} leads): "
        + ", ".join(f"{role} {value:.1f} s" for role, value in parts.items())
        + f"; other databases' backends {seconds.get('other databases', 0.0):.1f} s (left out);"
        f" load generator {loadgen:.1f} s, fake Twilio {fake:.1f} s (left out); everything"
        f" else on the machine {others:.1f} s ({others / (wall * (os.cpu_count() or 1)):.0%} of"
        " it). redis-server is the machine's shared one: whatever else uses it counts too."
    )
    for role, value in parts.items():
        figures.add(f"bursts D: CPU per lead, {role}", value / leads * 1000, "ms", None, None)
    target = TARGETS["cpu_ms_per_lead"]
    figures.add(
        "bursts D: CPU per lead (web + workers + database + redis)",
        per_lead, "ms", f"<= {target:g}", per_lead <= target,
    )  # fmt: skip


def post_figures(figures: Figures, stack: Stack, seconds: float, concurrency: int) -> None:
    """C: the closed-loop maxima, workers and beat stopped (only the web side runs)."""
    stack.stop_celery()
    loader = Loader(stack.port, seconds, seconds)
    for path in (BASELINE_INSERT, LEADS):
        loader("warm-up " + path, path, "lead", concurrency=concurrency, duration=1)
    bare = loader("bare insert view max", BASELINE_INSERT, "lead", concurrency=concurrency)
    post = loader("POST /api/v1/leads/ max", LEADS, "lead", concurrency=concurrency)
    ratio = post["achieved"] / bare["achieved"] if bare["achieved"] else float("nan")
    figures.add(
        "bursts C: bare insert view max (closed loop)", bare["achieved"], "req/s", None, None
    )
    target = TARGETS["post_max"]
    figures.add(
        "bursts C: POST max (closed loop)",
        post["achieved"], "req/s", f">= {target:g}", post["achieved"] >= target,
    )  # fmt: skip
    target = TARGETS["post_ratio"]
    figures.add("bursts C: POST / bare insert view", ratio, "x", f">= {target:g}", ratio >= target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds (BENCH_QUICK)")
    parser.add_argument("--only", default="ABC", help="scenarios to run, e.g. A or AB (D is A's)")
    parser.add_argument("--rate-a", type=float, default=100.0)
    parser.add_argument("--seconds-a", type=float, default=60.0)
    parser.add_argument("--rate-b", type=float, default=200.0)
    parser.add_argument("--seconds-b", type=float, default=30.0)
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait after a burst")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="each closed-loop run (C)")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help="broker and cache, flushed")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DATABASE} in place")
    args = parser.parse_args()
    if args.quick or quick_mode():
        args.rate_a, args.seconds_a, args.rate_b, args.seconds_b = 20.0, 5.0, 40.0, 3.0
        args.drain, args.max_seconds = min(args.drain, 30.0), 2.0

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f"bench: signal {signum}"))
    os.chdir(BASE_DIR)
    check_services()
    fake_port, port = free_port(), free_port()
    redis_url = f"redis://{HOST}:6379/{args.redis_db}"
    env = {
        **server_env(port),
        "DATABASE_URL": f"postgres://{PG['user']}@{HOST}:{PG['port']}/{DATABASE}",
        "REDIS_URL": redis_url,
        "REDIS_CACHE_URL": redis_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE": f"http://{HOST}:{fake_port}",
        "SMS_MAX_PER_SECOND": str(SMS_MAX_PER_SECOND),
        "EMAIL_URL": "dummymail://",
    }
    logs = BASE_DIR / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    stack = Stack(env=env, port=port, fake_port=fake_port, logs=logs)
    figures = Figures()
    try:
        stack.fake = multiprocessing.get_context("spawn").Process(
            target=fake_twilio_main, args=(fake_port, ACCOUNT_SID, AUTH_TOKEN), daemon=True
        )
        stack.fake.start()
        stack.arrivals = Arrivals(fake_port)
        redis_flush(args.redis_db)
        prepare(env)
        stack.workers = topology(declared_queues(env))
        stack.server = start_gunicorn(
            env, port, args.web_workers, args.threads, logs / "bursts-gunicorn.log"
        )
        stack.start_celery()
        log(
            f"gunicorn {args.web_workers} x {args.threads} threads on {HOST}:{port}; workers "
            + "; ".join(
                f"{w.name}: -Q {','.join(w.queues)} -P {w.pool} -c {w.concurrency}"
                for w in stack.workers
            )
            + f"; beat; fake Twilio on {fake_port}; logs in {logs}/bursts-*.log"
        )
        warm = Burst("warm-up", rate=5, seconds=2, first=0)
        run_burst(stack, warm, drain=90)
        if warm.drained_in is None:
            raise RuntimeError("the warm-up leads did not all get their SMS: see the logs")
        log("warm-up: 10 leads confirmed and routed; stack ready")

        next_index = warm.count
        leads_a = 0
        if "A" in args.only:
            burst = Burst("A", args.rate_a, args.seconds_a, first=next_index)
            next_index += burst.count
            fake_cpu_before = stack.arrivals.refresh().cpu
            meter = CpuMeter(stack.groups(), postmaster_pid(), redis_pid(6379), DATABASE)
            meter.start()
            run_burst(stack, burst, args.drain)
            measured = meter.finish()
            fake_cpu_after = stack.arrivals.refresh().cpu
            leads_a = burst_figures(figures, burst, args.drain)["leads"]
            cpu_figures(
                figures, measured, leads_a, burst.loadgen_cpu, fake_cpu_after - fake_cpu_before
            )
            if burst.drained_in is None:
                print("A did not drain: CPU per lead is a lower bound (work was left undone).")
        if "B" in args.only:
            if "A" in args.only and burst.drained_in is None:
                print("B starts with A's backlog still being worked off: it measures both.")
            burst = Burst("B", args.rate_b, args.seconds_b, first=next_index)
            next_index += burst.count
            run_burst(stack, burst, args.drain)
            burst_figures(figures, burst, args.drain)
        if "C" in args.only:
            post_figures(figures, stack, args.max_seconds, args.web_workers * args.threads)
        figures.print()
        print(
            f"Machine: {os.cpu_count()} cores shared by everything above (web, workers, beat,"
            " PostgreSQL, Redis, the load generator and the fake Twilio); load average now "
            f"{os.getloadavg()[0]:.1f}. C runs with the workers and beat stopped."
        )
        return 0
    finally:
        stack.stop_celery()
        stop(stack.server)
        if stack.fake is not None and stack.fake.is_alive():
            stack.fake.terminate()
            stack.fake.join(timeout=5)
        try:
            redis_flush(args.redis_db)
        except Exception as error:  # cleanup goes on
            log(f"could not flush Redis database {args.redis_db}: {error}")
        if not args.keep_db:
            try:
                psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            except Exception as error:
                log(f"could not drop {DATABASE}: {error}")


if __name__ == "__main__":
    sys.exit(main())
