"""Benchmark of instant calls: `.venv/bin/python bench/instant_calls.py`.

The time from ``POST /api/v1/leads/`` to the instant call created at the provider,
on the real path: gunicorn (production settings, bench/settings.py), PostgreSQL (a
fresh ``clinic_bench_instant_calls`` database), Redis as broker, a real Celery worker
process (routing, then the instant call's task) and the real ``twilio`` client
placing calls at the local fake Twilio server (tests/fake_twilio.py) in this process,
which notes when each call is created. The clinic is open (no opening hours: always)
and 10 coordinators with confirmed phones are available.

Leads asking for a call (each a new person) are posted at 5 per second, open loop,
for 60 seconds. The coordinators answer as people would, played by the fake's driver
over HTTP against gunicorn (tests/fake_twilio_driver.py): each phone is picked up
after a moment and everyone who hears the prompt presses 1 at once; the one who gets
the bridge talks for a second and hangs up, the others are hung up on. So the
coordinators keep freeing up, and each new request rings those not on a call.

Prints the p50 and p95 of POST -> the first instant call of the request at the
provider, and of POST -> each call (every phone rung), how many requests rang
someone, and how many rounds were bridged more than once (must be none).

Target: p95 <= 3 s at 5 leads/s with 10 available coordinators.

``--redis-port`` picks the Redis server (databases 14 and 15 are used and flushed,
as by the other benchmarks).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.intake as base
from bench.results import quick_mode, result
from tests.fake_twilio import FakeTwilio
from tests.fake_twilio_voice import FINAL

DATABASE = "clinic_bench_instant_calls"
COORDINATORS = 10
TARGET_SECONDS = 3.0
# A person picks up a ringing phone after this long, and talks this long.
PICK_UP_SECONDS = 0.4
TALK_SECONDS = 1.0

SEED_STAFF = f"""
from django.contrib.auth.models import Group, User
from django.utils import timezone
from clinic.crypto import phone_hash
from scheduling.models import StaffCallSettings
group = Group.objects.get_or_create(name="coordinator")[0]
for index in range({COORDINATORS}):
    user = User.objects.create(username=f"bench-coordinator-{{index}}")
    user.groups.add(group)
    phone = f"+1202555{{100 + index:04d}}"
    StaffCallSettings.objects.create(
        user=user, phone=phone, phone_hash=phone_hash(phone), verified_at=timezone.now(),
        available=True, available_since=timezone.now(),
    )
"""

ROUNDS_SQL = """
SELECT s.phone, leg.provider_id, r.id
FROM scheduling_call c
JOIN scheduling_instantcallround r ON r.id = c.instant_round_id
JOIN intake_submission s ON s.id = r.submission_id
JOIN scheduling_callleg leg ON leg.call_id = c.id AND leg.role = 'coordinator'
WHERE leg.provider_id IS NOT NULL
"""
# Rounds whose person was dialled by more than one call: a double bridge.
DOUBLE_BRIDGES_SQL = """
SELECT count(*) FROM (
    SELECT c.instant_round_id FROM scheduling_callleg leg
    JOIN scheduling_call c ON c.id = leg.call_id
    WHERE leg.role = 'person' AND c.instant_round_id IS NOT NULL
    GROUP BY c.instant_round_id HAVING count(*) > 1
) doubled
"""
# Where the time goes: stored -> routed (the worker's queue and routing), routed ->
# the round begun (the instant call's task), per request that rang someone.
STAGES_SQL = """
SELECT EXTRACT(EPOCH FROM s.processed_at - s.created_at),
       EXTRACT(EPOCH FROM r.created_at - s.processed_at)
FROM intake_submission s JOIN scheduling_instantcallround r ON r.submission_id = s.id
"""
COUNTS_SQL = """
SELECT
    (SELECT count(*) FROM scheduling_instantcallround WHERE status = 'taken'),
    (SELECT count(*) FROM scheduling_callback WHERE status = 'claimed')
"""


def post_lead(port: int, phone: str, index: int) -> int:
    body = json.dumps({"first_name": "Bench", "phone": phone, "preferred_channel": "call"})
    connection = http.client.HTTPConnection(base.HOST, port, timeout=10)
    try:
        connection.request(
            "POST",
            "/api/v1/leads/",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Forwarded-For": f"198.18.{index // 256}.{index % 256}",
            },
        )
        return connection.getresponse().status
    finally:
        connection.close()


class Coordinators(threading.Thread):
    """The coordinators' phones: every new staff call at the fake is picked up in a
    thread of its own, which presses 1; the bridged one talks, the others end."""

    def __init__(self, fake: FakeTwilio, base_url: str) -> None:
        super().__init__(daemon=True)
        self.fake = fake
        self.base_url = base_url
        self.stopping = threading.Event()
        self.players: list[threading.Thread] = []
        self.bridges = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        seen: set[str] = set()
        while not self.stopping.wait(0.01):
            for call in self.fake.voice.calls:
                if call.parent_sid is None and call.sid not in seen:
                    seen.add(call.sid)
                    player = threading.Thread(target=self.play, args=(call.sid,), daemon=True)
                    player.start()
                    self.players.append(player)

    def play(self, sid: str) -> None:
        try:
            driver = self.fake.voice.drive(sid, base_url=self.base_url)
            time.sleep(PICK_UP_SECONDS)
            if driver.call.status in FINAL:  # hung up by the app: someone took it
                driver.report_end()
                return
            driver.ring()
            prompt = driver.answer()
            if prompt.find("Gather") is None:
                driver.complete(duration=1)
                return
            bridge = driver.press("1")
            if bridge.find("Dial") is None:
                driver.complete(duration=1)
                return
            with self._lock:
                self.bridges += 1
            person = driver.dial()
            person.ring()
            person.answer(answered_by="human")
            time.sleep(TALK_SECONDS)
            person.complete(duration=int(TALK_SECONDS))
            driver.complete(duration=int(TALK_SECONDS) + 2)
        except Exception as error:  # reported with the figures
            with self._lock:
                self.errors.append(f"{type(error).__name__}: {str(error)[:200]}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def query(sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(dbname=DATABASE, **base.PG) as connection:
        return connection.execute(sql).fetchall()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=5.0, help="leads per second")
    parser.add_argument("--concurrency", type=int, default=3, help="worker pool processes")
    parser.add_argument("--redis-port", type=int, default=base.REDIS_PORT)
    args = parser.parse_args()
    leads = int(args.seconds * args.rate)
    if quick_mode():  # bench/run.py --quick: seconds, to check it works, not the figures
        leads = min(leads, 10)
    base.DATABASE = DATABASE
    base.REDIS_PORT = args.redis_port

    base.check_services()
    fake = FakeTwilio().start()
    port = base.free_port()
    server_url = f"http://{base.HOST}:{port}"
    env = {
        **base.server_env(port),
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_API_BASE": fake.base_url,
        "VOICE_BACKEND": "twilio",
        "CLINIC_CALLER_ID": "+14753292686",
        "CLINIC_HOLIDAYS_COUNTRY": "",
    }
    logs = base.BASE_DIR / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server = worker = None
    coordinators = None
    try:
        base.redis_flush()
        base.prepare_database(env)
        base.manage(env, "shell", "-v", "0", "-c", SEED_STAFF)
        server = base.start_gunicorn(
            env, port, workers=2, threads=4, log_path=logs / "instant-gunicorn.log"
        )
        with (logs / "instant-worker.log").open("wb") as worker_log:
            worker = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "config", "worker",
                    "--loglevel=WARNING", f"--concurrency={args.concurrency}",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-Q", "confirmations,notifications,scheduling,default",
                ],
                cwd=base.BASE_DIR,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        time.sleep(6)  # the worker connects and its pool starts
        coordinators = Coordinators(fake, server_url)
        coordinators.start()

        phones = [f"+1202555{3000 + index:04d}" for index in range(leads)]
        posted_at: dict[str, float] = {}
        statuses: list[int] = []
        threads = []
        begin = time.monotonic()
        for index, phone in enumerate(phones):
            time.sleep(max(0.0, begin + index / args.rate - time.monotonic()))
            posted_at[phone] = time.time()
            thread = threading.Thread(
                target=lambda p=phone, i=index: statuses.append(post_lead(port, p, i))
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(timeout=15)
        time.sleep(5)  # the last requests are routed and rung
        coordinators.stopping.set()
        coordinators.join()
        for player in coordinators.players:
            player.join(timeout=30)

        created = {call.sid: call.created_at.timestamp() for call in fake.voice.calls}
        first: dict[str, float] = {}
        every: list[float] = []
        for phone, sid, _round in query(ROUNDS_SQL):
            if sid not in created or phone not in posted_at:
                continue
            latency = created[sid] - posted_at[phone]
            every.append(latency)
            first[phone] = min(first.get(phone, latency), latency)
        double_bridges = query(DOUBLE_BRIDGES_SQL)[0][0]
        taken, claimed = query(COUNTS_SQL)[0]

        firsts = list(first.values())
        p50 = statistics.median(firsts) if firsts else float("inf")
        p95 = percentile(firsts, 0.95) if firsts else float("inf")
        every_p95 = percentile(every, 0.95) if every else float("inf")
        print(
            f"{len(phones)} leads at {args.rate:g}/s: {statuses.count(201)} answered 201, "
            f"{len(first)} rang at least one coordinator ({len(every)} calls placed), "
            f"{taken} taken by pressing 1 ({coordinators.bridges} bridges heard, "
            f"{claimed} callbacks claimed), {double_bridges} rounds bridged twice; "
            f"{COORDINATORS} coordinators available, worker pool of {args.concurrency}"
        )
        stages = query(STAGES_SQL)
        if stages:
            routed = [float(row[0]) for row in stages]
            begun = [float(row[1]) for row in stages]
            print(
                f"stored -> routed p50 {statistics.median(routed):.2f} s, "
                f"p95 {percentile(routed, 0.95):.2f} s; routed -> round begun p50 "
                f"{statistics.median(begun):.2f} s, p95 {percentile(begun, 0.95):.2f} s"
            )
        if coordinators.errors:
            print(f"driver errors ({len(coordinators.errors)}): {coordinators.errors[:3]}")
        rows = [
            ("POST -> first instant call p50", f"{p50:.2f} s", ""),
            ("POST -> first instant call p95", f"{p95:.2f} s", f"<= {TARGET_SECONDS:g} s"),
            ("POST -> every instant call p95", f"{every_p95:.2f} s", f"<= {TARGET_SECONDS:g} s"),
            ("requests that rang someone", f"{len(first)}/{len(phones)}", ""),
            ("rounds bridged twice", str(double_bridges), "== 0"),
        ]
        print(f"{'figure':<34}{'measured':>12}{'target':>12}")
        for name, measured, target in rows:
            print(f"{name:<34}{measured:>12}{target:>12}")
        result(
            figure="POST -> first instant call at Twilio p95",
            measured=p95 * 1000,
            unit="ms",
            target=f"<= {TARGET_SECONDS * 1000:g}",
            met=p95 <= TARGET_SECONDS,
        )
        result(
            figure="POST -> every instant call at Twilio p95",
            measured=every_p95 * 1000,
            unit="ms",
            target=f"<= {TARGET_SECONDS * 1000:g}",
            met=every_p95 <= TARGET_SECONDS,
        )
        result(
            figure="instant call rounds bridged twice",
            measured=double_bridges,
            unit="rounds",
            target="== 0",
            met=double_bridges == 0,
        )
        return 0 if firsts and double_bridges == 0 else 1
    finally:
        if coordinators is not None:
            coordinators.stopping.set()
        base.stop(worker)
        base.stop(server)
        fake.stop()
        base.redis_flush()
        base.psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
