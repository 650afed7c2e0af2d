"""Benchmark of the public intake: `.venv/bin/python bench/intake.py`.

Starts gunicorn (config.wsgi:application, 3 gthread workers x 2 threads by default,
production settings with throwaway values, via bench/settings.py: the production
settings plus the baseline URLs and raised throttles) on 127.0.0.1 against PostgreSQL (a fresh
``clinic_bench`` database, migrated, dropped at the end) and Redis (logical
databases 14 and 15, flushed before and after), then runs a separate load process
(bench/load.py) for each figure:

- POST /api/v1/leads/ at 100, 200 and 400 req/s offered (open loop), and its max;
- the same for a bare Django view that inserts one row (the baseline), and the ratio;
- POST /api/v1/events/ (the CTA beacon) beside a bare 204 view, closed loop.

No Celery worker runs: the intake publishes its tasks to Redis and they are purged
at the end; SMS consent is off in every request and Twilio points at a closed local
port, so nothing leaves the machine. Everything is bounded in time and cleaned up.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from results import quick_mode, result

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
PG = {"host": HOST, "port": 5432, "user": "postgres"}
# Overridable, so that runs beside each other (on a shared machine) use their own.
DATABASE = os.environ.get("BENCH_DATABASE", "clinic_bench")
REDIS_PORT = 6379
# Broker, cache: the bench's own, flushed before and after ("5,5": one database for both;
# the cache's keys carry its prefix and never meet the broker's).
REDIS_DBS = tuple(int(db) for db in os.environ.get("BENCH_REDIS_DBS", "14,15").split(","))
LEADS = "/api/v1/leads/"
EVENTS = "/api/v1/events/"
BASELINE_INSERT = "/bench/baseline/insert/"
BASELINE_NO_CONTENT = "/bench/baseline/no-content/"
RATES = (100, 200, 400)
# The baseline insert view's table (bench/baseline_urls.py): no model, raw SQL.
BASELINE_TABLE_SQL = (
    "CREATE TABLE bench_baseline_row ("
    " id bigserial PRIMARY KEY,"
    " body jsonb NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())"
)


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_env(port: int) -> dict[str, str]:
    """Production settings with throwaway values, every service on 127.0.0.1."""
    # Only the basics from this shell, so no setting of the developer's leaks in; those
    # a .env file could set are given here too (the environment wins over .env).
    basics = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ"}}
    return {
        **basics,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": "bench-only-throwaway-" + os.urandom(16).hex(),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "LOOKUP_HASH_KEY": os.urandom(32).hex(),
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "DATABASE_URL": f"postgres://{PG['user']}@{HOST}:{PG['port']}/{DATABASE}",
        "CONN_MAX_AGE": "60",
        "REDIS_URL": f"redis://{HOST}:{REDIS_PORT}/{REDIS_DBS[0]}",
        "REDIS_CACHE_URL": f"redis://{HOST}:{REDIS_PORT}/{REDIS_DBS[1]}",
        "SECURE_SSL_REDIRECT": "false",
        # As behind the production proxy: the load process (on HOST, so trusted as the
        # proxy) names each request's reader in X-Forwarded-For (bench/load.py).
        "TRUSTED_PROXIES": f"{HOST}/32",
        "PUBLIC_BASE_URL": f"http://{HOST}:{port}",
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "bench-not-a-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "CLINIC_CALLER_ID": "+15005550006",
        "TWILIO_API_BASE": f"http://{HOST}:9",  # nothing listens there
        "EMAIL_URL": "consolemail://",
        "DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CAPTCHA_PROVIDER": "",
        "CTA_ALLOWED_ORIGINS": "",
        "LOG_LEVEL": "WARNING",
    }


def psql(sql: str, database: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(dbname=database, autocommit=True, **PG) as conn:
        conn.execute(sql)


def redis_flush() -> None:
    import redis

    for db in set(REDIS_DBS):
        redis.Redis(host=HOST, port=REDIS_PORT, db=db, socket_timeout=5).flushdb()


def check_services() -> None:
    import psycopg
    import redis

    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **PG).close()
    except psycopg.OperationalError as error:
        sys.exit(f"bench: PostgreSQL is not reachable on {HOST}:{PG['port']} ({error})")
    try:
        redis.Redis(host=HOST, port=REDIS_PORT, socket_timeout=3).ping()
    except redis.RedisError as error:
        sys.exit(f"bench: Redis is not reachable on {HOST}:{REDIS_PORT} ({error})")


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, timeout=timeout)


def prepare_database(env: dict[str, str]) -> None:
    psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{DATABASE}"')
    log(f"migrating {DATABASE}")
    manage(env, "migrate", "--noinput", "-v", "0")
    psql(BASELINE_TABLE_SQL, DATABASE)
    manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "from pathlib import Path; from intake.services import article_import_text; "
        "article_import_text(slug='science-behind-antidepressants', "
        "text=Path('intake/demo/science-behind-antidepressants.txt').read_text())",
    )


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int, log_path: Path):
    command = [
        PYTHON, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"{HOST}:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread" if threads > 1 else "sync",
        "--threads", str(threads),
        "--keep-alive", "5",
        "--backlog", "2048",
        "--timeout", "30",
        "--graceful-timeout", "5",
        "--error-logfile", str(log_path),
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited early; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    stop(server)
    raise RuntimeError(f"gunicorn did not answer /healthz within 30 s; see {log_path}")


def stop(server: subprocess.Popen | None) -> None:
    if server is None or server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


def post_status(port: int, path: str, body: dict) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "User-Agent": "Mozilla/5.0 clinic-bench"},
        )
        return connection.getresponse().status
    finally:
        connection.close()


class MachineMeter:
    """How much of the machine's CPU went to anything but the bench (another test run,
    say) between two readings: all busy time, less gunicorn's process group, PostgreSQL,
    Redis and the load processes. A lower bound: PostgreSQL counts as the bench's."""

    def __init__(self, server_pgid: int) -> None:
        self.server_pgid = server_pgid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.started = self._read()

    def _read(self) -> tuple[float, float, float]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        busy = sum(values) - values[3] - values[4]  # less idle and iowait
        ours = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    comm, _, rest = stat.read().rpartition(")")
            except OSError:
                continue
            fields = rest.split()
            name = comm.partition("(")[2]
            if int(fields[2]) == self.server_pgid or name.startswith(("postgres", "redis")):
                ours += int(fields[11]) + int(fields[12])
        return busy / self.tick, ours / self.tick, time.monotonic()

    def others_share(self, load_cpu_seconds: float) -> float:
        """Cores' worth of CPU used by others since this meter started, as a fraction of
        the machine."""
        busy0, ours0, t0 = self.started
        busy1, ours1, t1 = self._read()
        others = (busy1 - busy0) - (ours1 - ours0) - load_cpu_seconds
        return max(0.0, others) / ((t1 - t0) * (os.cpu_count() or 1))


class Loader:
    """Runs bench/load.py as its own process, one figure at a time."""

    def __init__(self, port: int, duration: float, max_duration: float) -> None:
        self.port, self.duration, self.max_duration = port, duration, max_duration
        self.offset = 0
        self.run_tag = os.urandom(4).hex()
        self.results: list[dict] = []

    def settle(self) -> None:
        """Wait (30 s at most) until the server has worked off the last run's backlog:
        /healthz answers quickly three times in a row."""
        quick, deadline = 0, time.monotonic() + 30
        while quick < 3 and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=5):
                    pass
            except (urllib.error.URLError, OSError):
                quick = 0
            else:
                quick = quick + 1 if time.monotonic() - started < 0.05 else 0
            time.sleep(0.2)

    def __call__(
        self, label: str, path: str, body: str, *, rate=None, concurrency=None, duration=None
    ):
        duration = duration or self.duration
        self.settle()
        command = [
            PYTHON, str(BASE_DIR / "bench" / "load.py"),
            "--port", str(self.port), "--path", path, "--body", body,
            "--duration", str(duration), "--run", self.run_tag, "--offset", str(self.offset),
        ]  # fmt: skip
        command += ["--rate", str(rate)] if rate else ["--concurrency", str(concurrency)]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 60, check=True
        )
        result = json.loads(done.stdout)
        result["label"] = label
        self.offset += result["sent"] + 1
        self.results.append(result)
        log(
            f"{label:<34} {result['achieved']:>8.1f} req/s  p50 {fmt_ms(result['p50'])}"
            f"  p99 {fmt_ms(result['p99'])}  statuses {result['statuses']}"
            f"  client cpu {result['client_cpu_seconds']} s"
        )
        return result


def fmt_ms(value: float | None) -> str:
    return "   n/a  " if value is None else f"{value:6.1f}ms"


def series(loader: Loader, name: str, path: str, body: str, concurrency: int) -> dict:
    """Open loop at each rate, then the closed-loop maximum."""
    runs = {rate: loader(f"{name} @ {rate} req/s offered", path, body, rate=rate) for rate in RATES}
    saturated = loader(
        f"{name} max ({concurrency} connections)",
        path,
        body,
        concurrency=concurrency,
        duration=loader.max_duration,
    )
    best = max([saturated["achieved"], *(run["achieved"] for run in runs.values())])
    return {"runs": runs, "max": best, "saturated": saturated}


def errors_of(result: dict) -> int:
    return sum(count for status, count in result["statuses"].items() if not status.startswith("2"))


def report(
    leads: dict, baseline: dict, beacon: dict | None, empty: dict, args, others: float
) -> None:
    rows = []

    def row(figure: str, measured: str, target: str, met: bool | None) -> None:
        rows.append(
            (figure, measured, target, "n/a" if met is None else ("met" if met else "NOT met"))
        )

    for rate in RATES:
        run = leads["runs"][rate]
        row(
            f"intake @ {rate} req/s offered: achieved, p50 / p99",
            f"{run['achieved']:.0f} req/s, {run['p50']:.1f} / {run['p99']:.1f} ms"
            if run["ok"]
            else "no success",
            "p99 <= 50 ms" if rate == 200 else "-",
            (run["p99"] is not None and run["p99"] <= 50 and errors_of(run) == 0)
            if rate == 200
            else None,
        )
    run200 = leads["runs"][200]
    p99_200 = run200["p99"] if run200["ok"] and run200["p99"] is not None else float("nan")
    result(
        figure="intake p99 @ 200 req/s offered (no errors)",
        measured=p99_200,
        unit="ms",
        target="<= 50",
        met=p99_200 <= 50 and errors_of(run200) == 0,
    )
    row("intake max", f"{leads['max']:.0f} req/s", ">= 400 req/s", leads["max"] >= 400)
    result(
        figure="intake max",
        measured=leads["max"],
        unit="req/s",
        target=">= 400",
        met=leads["max"] >= 400,
    )
    for rate in RATES:
        run = baseline["runs"][rate]
        row(
            f"baseline insert @ {rate} req/s: achieved, p50 / p99",
            f"{run['achieved']:.0f} req/s, {run['p50']:.1f} / {run['p99']:.1f} ms"
            if run["ok"]
            else "no success",
            "-",
            None,
        )
    row("baseline insert max", f"{baseline['max']:.0f} req/s", "-", None)
    ratio = leads["max"] / baseline["max"] if baseline["max"] else 0
    row("intake / baseline (max)", f"{ratio:.2f}x", ">= 0.5x", ratio >= 0.5)
    result(
        figure="intake / baseline insert (max)",
        measured=ratio,
        unit="x",
        target=">= 0.5",
        met=ratio >= 0.5,
    )
    row("bare 204 view max", f"{empty['max']:.0f} req/s", "-", None)
    if beacon is None:
        row("events beacon max", "not available", ">= 1500 req/s", None)
        result(
            figure="events beacon max",
            measured=float("nan"),
            unit="req/s",
            target=">= 1500",
            met=False,
        )
        row("beacon / bare 204 view", "not available", ">= 0.8x", None)
    else:
        beacon_ratio = beacon["max"] / empty["max"] if empty["max"] else 0
        row(
            "events beacon max",
            f"{beacon['max']:.0f} req/s",
            ">= 1500 req/s",
            beacon["max"] >= 1500,
        )
        row("beacon / bare 204 view", f"{beacon_ratio:.2f}x", ">= 0.8x", beacon_ratio >= 0.8)
        result(
            figure="events beacon max",
            measured=beacon["max"],
            unit="req/s",
            target=">= 1500",
            met=beacon["max"] >= 1500,
        )
        result(
            figure="events beacon / bare 204 view (max)",
            measured=beacon_ratio,
            unit="x",
            target=">= 0.8",
            met=beacon_ratio >= 0.8,
        )

    widths = [
        max(len(r[i]) for r in [("figure", "measured", "target", "met/not"), *rows])
        for i in range(4)
    ]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(line.format("figure", "measured", "target", "met/not"))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
    print()
    print(
        f"Machine: {os.cpu_count()} cores, shared by gunicorn ({workers_text(args)}),"
        " PostgreSQL, Redis and the load process: the figures are for this whole box, and"
        " the load generator's own CPU time (client cpu above) is taken from the server."
    )
    print(
        f"Other processes on the machine used at least {others:.0%} of its CPU during the"
        " runs"
        + (
            ": the figures understate this code; run again on an idle machine."
            if others > 0.1
            else "."
        )
    )
    print(
        f"Open loop: {args.duration:.0f} s per offered rate, latency from each request's due"
        " time; max: closed loop, the highest rate reached. Non-2xx answers are not counted"
        " as throughput."
    )


def workers_text(args) -> str:
    if args.threads > 1:
        return f"{args.workers} gthread workers x {args.threads} threads"
    return f"{args.workers} sync workers"


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the public intake API.")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per open-loop run")
    parser.add_argument("--max-duration", type=float, default=8.0, help="seconds per max run")
    # gthread keeps connections alive (as a proxy's upstream pool would); with sync
    # workers every request is a new connection and the Python load process spends
    # more CPU than the server on them. --threads 1 gives the Dockerfile's sync workers.
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads per worker (more than 1: gthread)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="connections for the max runs (default: workers x threads; more only queue)",
    )
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DATABASE} in place")
    args = parser.parse_args()
    if quick_mode():  # bench/run.py --quick: seconds, to check it works, not the figures
        args.duration, args.max_duration = 1.0, 1.0
    if not 1 <= args.duration <= 30 or not 1 <= args.max_duration <= 30:
        parser.error("durations must be 1 to 30 seconds")

    args.concurrency = args.concurrency or args.workers * args.threads
    # A SIGTERM still cleans up (stops gunicorn, purges Redis, drops the database).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f"bench: signal {signum}"))
    os.chdir(BASE_DIR)
    sys.path.insert(0, str(BASE_DIR))
    check_services()
    port = free_port()
    env = server_env(port)
    log_path = Path("/tmp") / f"clinic-bench-gunicorn-{os.getpid()}.log"
    server = None
    try:
        redis_flush()
        prepare_database(env)
        server = start_gunicorn(env, port, args.workers, args.threads, log_path)
        log(f"gunicorn on {HOST}:{port}, {workers_text(args)}; log {log_path}")
        loader = Loader(port, args.duration, args.max_duration)

        # Warm every worker's connections and code paths; not measured.
        warm_up = 0.5 if quick_mode() else 2
        for path, body in (
            (LEADS, "lead"),
            (BASELINE_INSERT, "lead"),
            (BASELINE_NO_CONTENT, "event"),
        ):
            loader("warm-up " + path, path, body, concurrency=args.concurrency, duration=warm_up)
        events_status = post_status(
            port, EVENTS, {"article": "science-behind-antidepressants", "type": "article_view"}
        )
        beacon_exists = events_status < 300
        log(f"events beacon answers {events_status}" + ("" if beacon_exists else ": not available"))
        if beacon_exists:
            loader(
                "warm-up " + EVENTS, EVENTS, "event", concurrency=args.concurrency, duration=warm_up
            )
        loader.results.clear()
        meter = MachineMeter(server.pid)

        # Cheapest first: the intake runs overload the server and leave a backlog.
        empty_run = loader(
            "bare 204 view max", BASELINE_NO_CONTENT, "event",
            concurrency=args.concurrency, duration=args.max_duration,
        )  # fmt: skip
        empty = {"max": empty_run["achieved"]}
        beacon = None
        if beacon_exists:
            beacon_run = loader(
                "events beacon max", EVENTS, "event",
                concurrency=args.concurrency, duration=args.max_duration,
            )  # fmt: skip
            beacon = {"max": beacon_run["achieved"]}
        baseline = series(loader, "baseline insert view", BASELINE_INSERT, "lead", args.concurrency)
        leads = series(loader, "intake POST /api/v1/leads/", LEADS, "lead", args.concurrency)
        others = meter.others_share(sum(r["client_cpu_seconds"] for r in loader.results))
        report(leads, baseline, beacon, empty, args, others)
    finally:
        stop(server)
        if log_path.exists():
            lines = log_path.read_text().splitlines()
            problems = [line for line in lines if "[ERROR]" in line or "[CRITICAL]" in line]
            if problems:
                log(f"gunicorn logged {len(problems)} errors; kept {log_path}")
            else:
                log_path.unlink()
        try:
            redis_flush()
            log(f"purged Redis databases {REDIS_DBS} (the tasks nobody ran, the throttles)")
        except Exception as error:  # cleanup must go on
            log(f"could not purge Redis: {error}")
        if not args.keep_db:
            try:
                psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
                log(f"dropped {DATABASE}")
            except Exception as error:
                log(f"could not drop {DATABASE}: {error}")


if __name__ == "__main__":
    main()
