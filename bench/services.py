"""Throwaway PostgreSQL and Redis servers on free ports, for the drill and the failure tests.

Each server is the caller's own (a temporary directory, a free port on 127.0.0.1), so
that stopping or restarting it never touches the machine's PostgreSQL (5432) or Redis
(6379), on which other people's work runs.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, step: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries' directory, or None if there are none."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def missing_tools(*, postgres: bool = True, redis_server: bool = True) -> list[str]:
    """What this machine lacks to start the servers below (empty if nothing)."""
    problems = []
    if postgres and postgres_bin() is None:
        problems.append("no /usr/lib/postgresql/*/bin/initdb")
    if postgres and os.geteuid() == 0 and shutil.which("runuser") is None:
        problems.append("running as root without runuser (initdb refuses root)")
    if redis_server and shutil.which("redis-server") is None:
        problems.append("no redis-server")
    return problems


class Postgres:
    """A throwaway cluster owned by the ``postgres`` OS user (initdb refuses root)."""

    def __init__(self, root: Path) -> None:
        self.root = root / "postgres"
        self.data = self.root / "data"
        self.port = free_port()
        found = postgres_bin()
        if found is None:
            raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = found

    def _as_postgres(self, *command: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, timeout=timeout, stdout=subprocess.DEVNULL)

    def init(self) -> None:
        self.root.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            # The temporary directory above is root's and 0700: let postgres through
            # (search only, no listing; nothing in it is secret).
            os.chmod(self.root.parent, 0o711)  # noqa: S103
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={HOST} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every client is disconnected, as in a restart or failover."""
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"
        )  # fmt: skip

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{database}"

    def connect(self, database: str = "clinic") -> psycopg.Connection:
        return psycopg.connect(
            host=HOST, port=self.port, user="postgres", dbname=database, autocommit=True
        )


class Redis:
    """A redis-server with no persistence: a restart loses every queued task.
    ``start`` after ``stop`` brings it back on the same port, as a restart does."""

    def __init__(self, root: Path) -> None:
        self.root = root / "redis"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            "redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
            "--appendonly", "no", "--dir", str(self.root), "--loglevel", "warning",
        ]  # fmt: skip
        with (self.root / "server.log").open("ab") as log_file:
            self.process = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        if not wait_until(self.answers, timeout=20):
            raise RuntimeError(f"the redis-server on port {self.port} did not start")

    def answers(self) -> bool:
        try:
            return bool(self.client(0).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, db=db, socket_timeout=3)

    def queued(self) -> int:
        """Tasks waiting in the broker's queue lists (database 0)."""
        broker = self.client(0)
        return sum(
            broker.llen(key) for key in broker.scan_iter(count=500) if broker.type(key) == b"list"
        )
