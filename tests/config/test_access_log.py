"""gunicorn's access and error logs carry route names, never paths, query strings,
referers, user agents or client addresses (config.access_log, gunicorn.conf.py)."""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.urls import resolve
from gunicorn.config import Config

from config.access_log import RedactingLogger

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sometoken123"
EMAIL = "someone@example.com"
REFERER = "https://www.clinic.example/articles/ketamine-results/?utm_source=newsletter"
USER_AGENT = "Mozilla/5.0 (a-very-identifying-agent)"
CLIENT = "203.0.113.9"
COMBINED = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logger() -> Iterator[tuple[RedactingLogger, Records, Records]]:
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", COMBINED)  # ignored: the line is ours
    log = RedactingLogger(config)
    access, errors = Records(), Records()
    log.access_log.handlers, log.error_log.handlers = [access], [errors]
    try:
        yield log, access, errors
    finally:
        log.access_log.handlers, log.error_log.handlers = [], []


def request_environ(path: str = f"/r/{TOKEN}/") -> dict[str, str]:
    query = f"utm_campaign={EMAIL}"
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": f"{path}?{query}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": REFERER,
        "HTTP_USER_AGENT": USER_AGENT,
        "REMOTE_ADDR": CLIENT,
    }


def assert_nothing_personal(text: str) -> None:
    for leak in (TOKEN, EMAIL, "utm_", "ketamine", REFERER, USER_AGENT, CLIENT, "127.0.0.1"):
        assert leak not in text, f"{leak!r} in {text!r}"


# --- The logger class ------------------------------------------------------------------


def test_an_access_line_has_the_route_and_status_and_nothing_the_caller_sent(logger):
    log, access, _ = logger
    response = SimpleNamespace(
        status="404 Not Found", sent=1234, headers=[("X-Request-ID", "req-0123456789")]
    )

    log.access(response, None, request_environ(), datetime.timedelta(milliseconds=12.5))

    (line,) = access.lines
    assert_nothing_personal(line)
    record = json.loads(line)
    match = resolve(f"/r/{TOKEN}/")
    assert record["route"] == match.route
    assert "<" in record["route"]  # a pattern, not a path
    assert record["view"] == match.view_name
    assert record["method"] == "GET"
    assert record["status"] == 404
    assert record["bytes"] == 1234
    assert record["duration_ms"] == 12.5
    assert record["request_id"] == "req-0123456789"


def test_a_path_no_route_matches_is_not_logged(logger):
    log, access, _ = logger
    response = SimpleNamespace(status="404 Not Found", sent=0, headers=[])

    log.access(response, None, request_environ(f"/no/such/{TOKEN}/"), datetime.timedelta(seconds=0))

    record = json.loads(access.lines[0])
    assert (record["route"], record["view"]) == (None, "unresolved")
    assert record["request_id"] is None
    assert_nothing_personal(access.lines[0])


def test_the_error_log_keeps_the_kind_of_error_not_the_request_line_or_address(logger):
    log, _, errors = logger
    line = f"GET /r/{TOKEN}/?utm_campaign={EMAIL} HTTP/1.1 junk"

    log.warning(f"Invalid request from ip={CLIENT}: Invalid HTTP request line: '{line}'")
    log.warning("Invalid request from ip=::1: Invalid HTTP Version: 'HTTP/9.9'")
    log.exception("Error handling request %s %s", "GET", f"/r/{TOKEN}/?utm_campaign={EMAIL}")
    log.exception("Error handling request %s", f"/r/{TOKEN}/")
    log.info("Booting worker with pid: %s", 42)

    assert errors.lines[:2] == [
        "Invalid request: Invalid HTTP request line",
        "Invalid request: Invalid HTTP Version",
    ]
    route = resolve(f"/r/{TOKEN}/").route
    assert errors.lines[2].startswith(f"Error handling request GET {route} (")
    assert errors.lines[3].startswith(f"Error handling request - {route} (")
    assert errors.lines[4] == "Booting worker with pid: 42"
    for text in errors.lines:
        assert_nothing_personal(text)
        assert "::1" not in text


def test_nothing_is_written_when_the_access_log_is_off():
    log = RedactingLogger(Config())
    access = Records()
    log.access_log.handlers = [access]
    response = SimpleNamespace(status="200 OK", sent=2, headers=[])
    log.access(response, None, request_environ(), datetime.timedelta(seconds=0))
    assert access.lines == []


# --- A real gunicorn with the repository's gunicorn.conf.py -------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorn_with_the_project_config_logs_routes_only(tmp_path):
    port = free_port()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(DJANGO_ENV="test", PYTHONUNBUFFERED="1")
    with out.open("w") as stdout, err.open("w") as stderr:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
                *("--bind", f"127.0.0.1:{port}", "--workers", "1"),
                *("--access-logfile", "-"),  # as the image and compose start it
            ],
            cwd=REPO,  # so ./gunicorn.conf.py (its logger_class) is read, as in the image
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                assert server.poll() is None, err.read_text()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "gunicorn did not listen"
                    time.sleep(0.1)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/r/{TOKEN}/?utm_campaign={EMAIL}",
                headers={"Referer": REFERER, "User-Agent": USER_AGENT},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            # A request line gunicorn cannot parse: its error log would quote it.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                raw.sendall(f"GET /r/{TOKEN}/?utm_campaign={EMAIL} HTTP/1.1 junk\r\n\r\n".encode())
                raw.recv(4096)
        finally:
            server.terminate()
            server.wait(timeout=10)

    access = [line for line in out.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in access]
    (record,) = [r for r in records if r["view"] == resolve(f"/r/{TOKEN}/").view_name]
    assert record["status"] == status
    assert record["route"] == resolve(f"/r/{TOKEN}/").route
    assert record["request_id"]  # the application's X-Request-ID
    assert_nothing_personal(out.read_text())
    # gunicorn's own error-log lines ("[date] [pid] [LEVEL] ..."); the application's
    # JSON lines on the same stream are redacted by config.logs.
    gunicorn_lines = [line for line in err.read_text().splitlines() if line.startswith("[")]
    # gunicorn's own message is "Invalid request from ip=127.0.0.1: ..." (and quotes the
    # offending part of the request line).
    assert any("[WARNING] Invalid request: Invalid HTTP" in line for line in gunicorn_lines)
    for line in gunicorn_lines:
        if "Listening at: http://127.0.0.1" not in line:
            assert_nothing_personal(line)
