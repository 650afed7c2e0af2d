"""A local stand-in for Twilio's REST API, for the real ``twilio`` client to talk to.

Tests of the Twilio path never reach the network (STYLE.md, rule 14): the
``fake_twilio`` fixture starts this server on 127.0.0.1 once per session, points
``TWILIO_API_BASE`` at it, and resets it before every test. It answers the three
calls the SMS backend makes (create a message, fetch one, list them) with
Twilio's own JSON shapes and error bodies, checks HTTP Basic auth, records every
request, and can be told to misbehave::

    def test_something(fake_twilio):
        fake_twilio.fail_next(status=500)             # the next create gets a 500
        fake_twilio.fail_next(status=429, code=20429, times=2)
        fake_twilio.reject_number("+12025550199", code=21610)  # always, for that number
        fake_twilio.slow(2.0)                         # take the message, answer late
        fake_twilio.fault("429", retry_after=2)       # every create, until fault("")
        fake_twilio.fault("503")                      # Twilio down (retry_after= optional)

Calls and recordings (Programmable Voice) are ``fake_twilio.voice``
(tests/fake_twilio_voice.py); ``fake_twilio.voice.drive(sid, ...)`` plays Twilio's
part of a call against the app (tests/fake_twilio_driver.py).

Tests import the fixtures they use (``from tests.fake_twilio import ...``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.fake_twilio_voice import FakeVoice

API_VERSION = "2010-04-01"
ACCOUNT_SID = "AC" + "5ef8732a3c49700934481addd5ce1659"
AUTH_TOKEN = "9f1c0e0d7c2b4a8e8d7a6b5c4d3e2f10"
# Twilio's magic test number that is a valid sender.
FROM_NUMBER = "+15005550006"

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number: {to}",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30006: "Landline or unreachable carrier",
}
# The Twilio code that goes with an HTTP status when a test names only the status.
CODE_FOR_STATUS = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}

E164 = re.compile(r"\+[1-9]\d{1,14}")
GSM_7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_7_EXTENDED = frozenset("^{}\\[~]|€\f")

MESSAGES_PATH = re.compile(rf"/{API_VERSION}/Accounts/(?P<account>AC[0-9a-f]{{32}})/Messages\.json")
MESSAGE_PATH = re.compile(
    rf"/{API_VERSION}/Accounts/(?P<account>AC[0-9a-f]{{32}})/Messages/(?P<sid>(?:SM|MM)[0-9a-f]{{32}})\.json"
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it. ``form`` and ``query`` keep the last
    value of each parameter, which is all the Messages API sends; ``form_lists``
    keeps every value (the Calls API repeats ``StatusCallbackEvent``)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    form_lists: dict[str, list[str]] = field(default_factory=dict)
    # When it arrived (time.time()), to compare with what happened elsewhere.
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Failure:
    status: int
    code: int | None
    message: str
    # A plain-text body instead of Twilio's JSON, as a proxy in front of Twilio answers.
    text: str | None = None
    # Seconds, sent as Retry-After (Twilio's 429s carry one).
    retry_after: int | None = None


@dataclass
class _Answer:
    status: int
    payload: dict[str, Any] | None = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Raw bytes (a recording's media, or empty for a 204) instead of JSON or text.
    content: bytes | None = None
    content_type: str = ""


def segment_count(body: str) -> int:
    """How many SMS segments Twilio bills ``body`` as (GSM-7 or UCS-2)."""
    if all(char in GSM_7 or char in GSM_7_EXTENDED for char in body):
        septets = len(body) + sum(char in GSM_7_EXTENDED for char in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def _parse_date_filter(value: str) -> datetime:
    """``DateSent>`` as the twilio client sends it (``2024-05-01T12:00:00Z``) or a bare date."""
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(value)


def _flatten(parsed: dict[str, list[str]]) -> dict[str, str]:
    return {name: values[-1] for name, values in parsed.items()}


class FakeTwilio:
    """Twilio's Programmable Messaging REST API, in memory, on 127.0.0.1."""

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.voice = FakeVoice(self)
        self.reset()

    # Lifecycle -------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(_Handler):
            twilio = fake

        # Port 0: the OS picks a free port.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.reset()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget every message, request and programmed misbehaviour."""
        with self._lock:
            self._requests: list[RecordedRequest] = []
            self._messages: list[dict[str, Any]] = []
            self._failures: list[Failure] = []
            self._rejections: dict[str, Failure] = {}
            self._fault: Failure | None = None
            self._delay = 0.0
            # Wake answers still held back by slow(): they belong to the test before.
            previous = getattr(self, "_wake", None)
            self._wake = threading.Event()
            self._generation = getattr(self, "_generation", 0) + 1
            if previous is not None:
                previous.set()
            # Outbound connections seen while the fixture guarded the network.
            self.connections: list[tuple[str, int]] = []
            self.refused: list[str] = []
        self.voice.reset()

    # What the fake saw -----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def creates(self) -> list[RecordedRequest]:
        """Every POST to Messages.json, accepted or refused."""
        return [
            request
            for request in self.requests
            if request.method == "POST" and MESSAGES_PATH.fullmatch(request.path)
        ]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages Twilio took, oldest first, as a fetch would return them now."""
        with self._lock:
            return [dict(message) for message in self._messages]

    # Programming it --------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        code: int | None = None,
        *,
        times: int = 1,
        message: str | None = None,
        text: str | None = None,
    ) -> None:
        """Refuse the next ``times`` message creates with this error. Without
        ``code``, the one Twilio uses for ``status``; with ``text``, a plain-text
        body instead of Twilio's JSON."""
        if code is None and text is None:
            code = CODE_FOR_STATUS.get(status, 20500 if status >= 500 else None)
            if code is None:
                raise ValueError(f"Name the Twilio error code for HTTP {status}")
        failure = Failure(status, code, message or ERROR_MESSAGES.get(code or 0, ""), text)
        with self._lock:
            self._failures.extend([failure] * times)

    def reject_number(self, to: str, *, code: int = 21610, status: int = 400) -> None:
        """Refuse every message to ``to`` with ``code``, as Twilio does for a number
        that opted out (21610), is not mobile (21614) or is a landline (30006)."""
        with self._lock:
            self._rejections[to] = Failure(status, code, ERROR_MESSAGES.get(code, ""))

    def fault(self, mode: str, *, retry_after: int | None = None, delay: float = 5.0) -> None:
        """Misbehave from now until told otherwise, as Twilio does in an incident:
        ``"500"`` refuses every create with a 500, ``"503"`` with a 503 (carrying
        ``Retry-After`` only when given one), ``"429"`` with a 429 carrying
        ``Retry-After: retry_after`` (1 by default), ``"slow"`` takes every request but answers
        ``delay`` seconds late; ``""`` is Twilio healthy again. Callable from any
        thread while the server runs (the failure drill switches it mid-traffic)."""
        failures = {
            "": None,
            "slow": None,
            "500": Failure(500, 20500, ERROR_MESSAGES[20500]),
            "503": Failure(503, 20503, ERROR_MESSAGES[20503], retry_after=retry_after),
            "429": Failure(
                429,
                20429,
                ERROR_MESSAGES[20429],
                retry_after=1 if retry_after is None else retry_after,
            ),
        }
        if mode not in failures:
            raise ValueError(f"Unknown fault {mode!r}: one of {sorted(failures)}")
        with self._lock:
            self._fault = failures[mode]
            self._delay = delay if mode == "slow" else 0.0
            if mode != "slow":
                # Answers held back by the slow mode go out now.
                self._wake.set()
                self._wake = threading.Event()

    def slow(self, seconds: float) -> None:
        """Hold every answer back ``seconds``. The request is handled first: a
        client that gives up still leaves the message with Twilio."""
        with self._lock:
            self._delay = seconds

    # Handling requests (called from the server's threads) ------------------------

    def _handle(self, request: RecordedRequest) -> _Answer:
        with self._lock:
            self._requests.append(request)
        if not self._authorised(request.headers.get("Authorization", "")):
            return self._error(Failure(401, 20003, ERROR_MESSAGES[20003]))
        if (voice_answer := self.voice.handle(request)) is not None:
            return voice_answer
        if match := MESSAGES_PATH.fullmatch(request.path):
            if match["account"] != self.account_sid:
                return self._error(Failure(401, 20003, ERROR_MESSAGES[20003]))
            if request.method == "POST":
                return self._create(request)
            if request.method == "GET":
                return self._list(request)
        elif match := MESSAGE_PATH.fullmatch(request.path):
            if match["account"] != self.account_sid:
                return self._error(Failure(401, 20003, ERROR_MESSAGES[20003]))
            if request.method == "GET":
                return self._fetch(match["sid"], request.path)
        return self._not_found(request.path)

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(
            f"{username}:{password}", f"{self.account_sid}:{self.auth_token}"
        )

    def _create(self, request: RecordedRequest) -> _Answer:
        form = request.form
        to = form.get("To", "")
        with self._lock:
            if self._failures:
                failure: Failure | None = self._failures.pop(0)
            else:
                failure = self._fault or self._rejections.get(to)
        if failure is not None:
            return self._error(failure)
        if not to:
            return self._error(Failure(400, 21604, ERROR_MESSAGES[21604]))
        if not E164.fullmatch(to):
            return self._error(Failure(400, 21211, ERROR_MESSAGES[21211].format(to=to)))
        sender = form.get("From", "")
        service = form.get("MessagingServiceSid", "")
        if not (sender or service):
            return self._error(Failure(400, 21603, ERROR_MESSAGES[21603]))
        body = form.get("Body", "")
        if not body and "MediaUrl" not in form:
            return self._error(Failure(400, 21602, ERROR_MESSAGES[21602]))

        now = datetime.now(UTC)
        sid = "SM" + secrets.token_hex(16)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        created = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": rfc2822(now),
            "date_sent": None,
            "date_updated": rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            # With a Messaging Service, Twilio picks the sender later.
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": str(segment_count(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if sender else "accepted",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": uri,
        }
        # Twilio hands a message to the carrier within moments; the fake does so at
        # once, so a later fetch or list sees it sent.
        sent = {
            **created,
            "status": "sent",
            "date_sent": rfc2822(now),
            "from": sender or FROM_NUMBER,
        }
        with self._lock:
            self._messages.append(sent)
        return _Answer(201, created)

    def _fetch(self, sid: str, path: str) -> _Answer:
        with self._lock:
            found = next((dict(m) for m in self._messages if m["sid"] == sid), None)
        return _Answer(200, found) if found is not None else self._not_found(path)

    def _list(self, request: RecordedRequest) -> _Answer:
        query = request.query
        try:
            page = int(query.get("Page", "0"))
            page_size = min(int(query.get("PageSize", "50")), 1000)
            after = _parse_date_filter(query["DateSent>"]) if "DateSent>" in query else None
            before = _parse_date_filter(query["DateSent<"]) if "DateSent<" in query else None
        except ValueError:
            return self._error(Failure(400, 20001, "Invalid paging or date filter"))

        def wanted(message: dict[str, Any]) -> bool:
            if "To" in query and message["to"] != query["To"]:
                return False
            if "From" in query and message["from"] != query["From"]:
                return False
            if after is None and before is None:
                return True
            if message["date_sent"] is None:
                return False  # Not sent yet: no date to compare.
            sent = datetime.strptime(message["date_sent"], "%a, %d %b %Y %H:%M:%S %z")
            return (after is None or sent >= after) and (before is None or sent <= before)

        with self._lock:
            matching = [dict(m) for m in reversed(self._messages) if wanted(m)]  # newest first
        start = page * page_size
        chunk = matching[start : start + page_size]
        filters = {name: value for name, value in query.items() if name not in {"Page", "PageSize"}}

        def page_uri(number: int) -> str:
            params = urlencode({**filters, "PageSize": page_size, "Page": number})
            return f"{request.path}?{params}"

        more = start + page_size < len(matching)
        return _Answer(
            200,
            {
                "messages": chunk,
                "end": start + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if more else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": page_uri(page),
            },
        )

    def _not_found(self, path: str) -> _Answer:
        return self._error(Failure(404, 20404, ERROR_MESSAGES[20404].format(path=path)))

    @staticmethod
    def _error(failure: Failure) -> _Answer:
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
        if failure.text is not None:
            return _Answer(failure.status, text=failure.text, headers=headers)
        return _Answer(
            failure.status,
            {
                "code": failure.code,
                "message": failure.message,
                "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
                "status": failure.status,
            },
            headers=headers,
        )

    def _hold(self) -> bool:
        """Wait out ``slow()``; False if the fake was reset meanwhile (drop the answer)."""
        with self._lock:
            delay, wake, generation = self._delay, self._wake, self._generation
        if delay > 0:
            wake.wait(delay)
        with self._lock:
            return generation == self._generation


class _Handler(BaseHTTPRequestHandler):
    twilio: FakeTwilio
    server_version = "fake-twilio"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = raw if "form-urlencoded" in self.headers.get("Content-Type", "") else ""
        form_lists = parse_qs(form, keep_blank_values=True)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=_flatten(parse_qs(split.query, keep_blank_values=True)),
            form=_flatten(form_lists),
            headers=dict(self.headers.items()),
            form_lists=form_lists,
        )
        answer = self.twilio._handle(request)
        if not self.twilio._hold():
            self.close_connection = True
            return
        if answer.content is not None:
            content, content_type = answer.content, answer.content_type
        elif answer.text is not None:
            content, content_type = answer.text.encode(), "text/plain; charset=utf-8"
        else:
            content, content_type = json.dumps(answer.payload).encode(), "application/json"
        try:
            self.send_response(answer.status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            pass  # The client gave up waiting (a timeout test): nothing to answer.

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Quiet: the fake records requests; pytest output stays readable.


def _is_loopback(host: object) -> bool:
    if host is None or host in ("localhost", b"localhost"):
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard_the_network(monkeypatch: pytest.MonkeyPatch, fake: FakeTwilio) -> None:
    """Refuse, and note in ``fake.refused``, any connection off this machine and any
    lookup of a Twilio host name: a test that lost its way to the fake fails
    instead of reaching Twilio. Loopback connections are noted in ``fake.connections``."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        if name == "twilio.com" or name.endswith(".twilio.com"):
            fake.refused.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not look up {name}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host, port = address[0], address[1]
            if not _is_loopback(host):
                fake.refused.append(f"{host}:{port}")
                raise ConnectionRefusedError(f"tests may not connect to {host}:{port}")
            fake.connections.append((host, port))
        real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="session")
def fake_twilio_server() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture(name="fake_twilio")
def fake_twilio_fixture(
    fake_twilio_server: FakeTwilio, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeTwilio]:
    """The session's fake Twilio, emptied, with the Twilio backend pointed at it
    and every connection off this machine refused."""
    fake = fake_twilio_server
    fake.reset()
    settings.SMS_BACKEND = "twilio"
    settings.VOICE_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = fake.account_sid
    settings.TWILIO_AUTH_TOKEN = fake.auth_token
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_API_BASE = fake.base_url
    settings.TWILIO_TIMEOUT_SECONDS = 5.0
    # The twilio client reads these from the environment and would then build
    # URLs (api.<edge>.<region>.twilio.com) that TWILIO_API_BASE does not rewrite.
    for name in ("TWILIO_EDGE", "TWILIO_REGION"):
        monkeypatch.delenv(name, raising=False)
    _guard_the_network(monkeypatch, fake)
    yield fake
    fake.reset()
