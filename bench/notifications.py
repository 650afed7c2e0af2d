"""Benchmark of speed to lead: `.venv/bin/python bench/notifications.py`.

The time from ``POST /api/v1/leads/`` to the SMS confirmation reaching Twilio, on
the real path: gunicorn (production settings, bench/settings.py), PostgreSQL (a
fresh ``clinic_bench`` database), Redis as broker, a real Celery worker process,
and the real ``twilio`` client talking to the local fake Twilio server
(tests/fake_twilio.py) in this process, which notes when each SMS arrives.
200 leads (each a new person, with SMS consent) are posted at 10 per second, open
loop. Prints p50 and p99 of that latency and the worker's peak memory.

Targets: p50 <= 150 ms, p99 <= 500 ms, worker peak RSS <= 150 MB.

The global SMS pace (SMS_MAX_PER_SECOND) is set to 30 here: at Twilio's default of
one message per second for a single long code, 10 leads a second cannot be
confirmed in time by anyone; a clinic at that volume uses a Messaging Service.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import (
    BASE_DIR,
    DATABASE,
    HOST,
    check_services,
    free_port,
    prepare_database,
    psql,
    redis_flush,
    server_env,
    start_gunicorn,
    stop,
)
from bench.results import quick_mode, result
from tests.fake_twilio import FakeTwilio


class TimedFakeTwilio(FakeTwilio):
    """The fake Twilio, noting when the first message to each number arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, float] = {}

    def _create(self, request):  # type: ignore[no-untyped-def]
        self.arrivals.setdefault(request.form.get("To", ""), time.monotonic())
        return super()._create(request)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


class RssMeter(threading.Thread):
    """Peak resident memory of the worker: its main process, each pool process, and
    the whole tree, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_process = 0
        self.peak_tree = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            pids = [self.pid, *children(self.pid)]
            sizes = [rss_kb(pid) for pid in pids]
            self.peak_process = max(self.peak_process, *sizes)
            self.peak_tree = max(self.peak_tree, sum(sizes))


def post_lead(port: int, phone: str, index: int) -> int:
    body = json.dumps(
        {
            "first_name": "Bench",
            "phone": phone,
            "sms_consent": True,
            "article": "science-behind-antidepressants",
            "timezone": "America/New_York",
            "utm_source": "bench",
        }
    )
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="leads per second")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    args = parser.parse_args()
    if quick_mode():  # bench/run.py --quick: seconds, to check it works, not the figures
        args.leads = min(args.leads, 10)

    check_services()
    fake = TimedFakeTwilio().start()
    port = free_port()
    env = {
        **server_env(port),
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_API_BASE": fake.base_url,
        "SMS_MAX_PER_SECOND": "30",
    }
    logs = BASE_DIR / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server = worker = None
    meter = None
    try:
        redis_flush()
        prepare_database(env)
        server = start_gunicorn(env, port, workers=2, threads=2, log_path=logs / "gunicorn.log")
        with (logs / "worker.log").open("wb") as worker_log:
            worker = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "config", "worker",
                    "--loglevel=WARNING", f"--concurrency={args.concurrency}",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-Q", "confirmations,notifications,scheduling,default",
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        meter = RssMeter(worker.pid)
        meter.start()
        time.sleep(6)  # the worker connects and its pool starts

        phones = [f"+1202555{3000 + index:04d}" for index in range(args.leads)]
        sent_at: dict[str, float] = {}
        statuses: list[int] = []
        threads = []
        begin = time.monotonic()
        for index, phone in enumerate(phones):
            time.sleep(max(0.0, begin + index / args.rate - time.monotonic()))
            sent_at[phone] = time.monotonic()
            thread = threading.Thread(
                target=lambda p=phone, i=index: statuses.append(post_lead(port, p, i))
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(timeout=15)
        deadline = time.monotonic() + 60
        while len(fake.arrivals) < len(phones) and time.monotonic() < deadline:
            time.sleep(0.1)
        meter.stopping.set()
        meter.join()

        latencies = [
            (fake.arrivals[phone] - sent_at[phone]) * 1000
            for phone in phones
            if phone in fake.arrivals
        ]
        accepted = statuses.count(201)
        print(
            f"{len(phones)} leads at {args.rate:g}/s: {accepted} answered 201, "
            f"{len(latencies)} SMS reached the fake Twilio; worker pool of {args.concurrency} on "
            f"{os.cpu_count()} cores shared with gunicorn, PostgreSQL and Redis"
        )
        p50 = statistics.median(latencies) if latencies else float("inf")
        p99 = percentile(latencies, 0.99) if latencies else float("inf")
        peak_mb = meter.peak_process / 1024
        rows = [
            ("POST -> SMS at Twilio p50", f"{p50:.0f} ms", "<= 150 ms", p50 <= 150),
            ("POST -> SMS at Twilio p99", f"{p99:.0f} ms", "<= 500 ms", p99 <= 500),
            ("worker peak RSS (largest process)", f"{peak_mb:.0f} MB", "<= 150 MB",
             peak_mb <= 150),
            ("worker peak RSS (whole tree)", f"{meter.peak_tree / 1024:.0f} MB", "", ""),
            ("SMS delivered", f"{len(latencies)}/{len(phones)}", "all",
             len(latencies) == len(phones)),
        ]  # fmt: skip
        for figure, measured, unit, target, met in (
            ("POST -> SMS at Twilio p50", p50, "ms", "<= 150", p50 <= 150),
            ("POST -> SMS at Twilio p99", p99, "ms", "<= 500", p99 <= 500),
            ("worker peak RSS (largest process)", peak_mb, "MB", "<= 150", peak_mb <= 150),
            ("SMS delivered of leads posted", len(latencies), "SMS", f">= {len(phones)}",
             len(latencies) == len(phones)),
        ):  # fmt: skip
            result(figure=figure, measured=measured, unit=unit, target=target, met=met)
        print(f"{'figure':<36}{'measured':>12}{'target':>12}  met")
        for name, measured, target, met in rows:
            verdict = "" if met == "" else ("yes" if met else "NO")
            print(f"{name:<36}{measured:>12}{target:>12}  {verdict}")
        return 0 if len(latencies) == len(phones) else 1
    finally:
        if meter is not None:
            meter.stopping.set()
        stop(worker)
        stop(server)
        fake.stop()
        redis_flush()
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
