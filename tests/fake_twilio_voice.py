"""Twilio Programmable Voice in the fake Twilio (tests/fake_twilio.py).

Two halves. ``FakeVoice`` answers the REST API the app's voice backend speaks to
(``fake_twilio.voice``): the Calls API (create, fetch, update to end or redirect a
call, list) and the Recordings API (list a call's recordings, fetch one's metadata,
fetch its media as .mp3 or .wav, delete it), with Twilio's JSON shapes and errors.
``CallDriver`` then plays Twilio's part of a call against the app: signed status
callbacks in the order Twilio sends them, the TwiML fetches (the call's Url when
answered, the ``<Gather>`` action, the ``<Dial>``'s ``<Number url>`` and action),
and, on demand, duplicates, retries and out-of-order delivery::

    sid = voice_backend().call_create(...)          # the app placed a call
    call = fake_twilio.voice.drive(sid, client=client)   # or base_url= a live server
    call.ring()                                     # initiated, ringing
    call.answer()                                   # answered, then the call's Url
    call.press("1")                                 # the <Gather> action, Digits=1
    person = call.dial()                            # the <Dial><Number> leg (a call)
    person.ring(); person.answer(answered_by="human")
    person.complete(duration=95)                    # its callback, then the Dial action
    call.complete(duration=110)

    call.repeat = 2                                 # every status callback twice
    with call.held(order="reversed"):               # delivered at the end, reversed
        call.ring(); call.no_answer()

Every webhook the driver posted, with the app's answer, is in ``voice.webhooks``.
The fake never posts on its own: a test decides when Twilio "does" something.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import re
import secrets
import struct
import threading
import urllib.error
import urllib.request
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin

from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from tests.fake_twilio import FakeTwilio, RecordedRequest, _Answer

API_VERSION = "2010-04-01"
_ACCOUNT = r"/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})"
CALLS_PATH = re.compile(rf"{_ACCOUNT}/Calls\.json")
CALL_PATH = re.compile(rf"{_ACCOUNT}/Calls/(?P<sid>CA[0-9a-f]{{32}})\.json")
CALL_RECORDINGS_PATH = re.compile(rf"{_ACCOUNT}/Calls/(?P<sid>CA[0-9a-f]{{32}})/Recordings\.json")
RECORDINGS_PATH = re.compile(rf"{_ACCOUNT}/Recordings\.json")
RECORDING_PATH = re.compile(
    rf"{_ACCOUNT}/Recordings/(?P<sid>RE[0-9a-f]{{32}})(?P<ext>\.json|\.mp3|\.wav)?"
)

VOICE_ERRORS = {
    20001: "Invalid parameter: {detail}",
    20404: "The requested resource {path} was not found",
    21201: "No 'To' number is specified",
    21205: "Url is not a valid URL: {detail}",
    21211: "Invalid 'To' Phone Number: {detail}",
    21212: "Invalid 'From' Phone Number: {detail}",
    21213: "No 'From' number is specified",
    21220: "Call is not in-progress. Cannot redirect.",
    21626: "Invalid StatusCallbackEvent: {detail}",
}
E164 = re.compile(r"\+[1-9]\d{1,14}")
STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MACHINE_DETECTION = frozenset({"Enable", "DetectMessageEnd"})
# What Twilio says in AnsweredBy with machine detection on.
ANSWERED_BY = frozenset(
    {
        "human",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
        "unknown",
    }
)
FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# The status callback event that reports each call status.
EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
SIP_CODES = {
    "completed": "200",
    "busy": "486",
    "no-answer": "487",
    "canceled": "487",
    "failed": "500",
}
# <Dial record="..."> values that record the bridged call.
DIAL_RECORDS = frozenset(
    {
        "record-from-answer",
        "record-from-ringing",
        "record-from-answer-dual",
        "record-from-ringing-dual",
    }
)


def _rfc2822(moment: datetime) -> str:
    from tests.fake_twilio import rfc2822

    return rfc2822(moment)


def recording_wav(seconds: float = 0.2) -> bytes:
    """A real (silent) 8 kHz mono WAV file, as Twilio serves a recording's .wav."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


def recording_mp3(sid: str) -> bytes:
    """Bytes that start like an MP3 file (an ID3 tag, then an MPEG frame header),
    with the recording's sid inside so a test can tell two recordings apart."""
    tag = b"ID3\x03\x00\x00" + struct.pack(">I", 0)
    return tag + b"\xff\xfb\x90\x64" + sid.encode() + b"\x00" * 64


@dataclass
class FakeCall:
    """One call leg as Twilio keeps it."""

    sid: str
    to: str
    from_: str
    url: str = ""
    twiml: str = ""
    status_callback: str = ""
    status_events: frozenset[str] = frozenset()
    machine_detection: str = ""
    record: bool = False
    recording_status_callback: str = ""
    timeout: int = 60
    time_limit: int | None = None
    parent_sid: str | None = None
    direction: str = "outbound-api"
    status: str = "queued"
    answered_by: str | None = None
    duration: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # The SequenceNumber of the next status callback.
    sequence: int = 0
    # Every Url/Twiml change (redirects by the Calls API), oldest first.
    redirects: list[dict[str, str]] = field(default_factory=list)

    def as_json(self, account_sid: str) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{self.sid}"
        return {
            "account_sid": account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(self.created_at),
            "date_updated": _rfc2822(self.ended_at or self.started_at or self.created_at),
            "direction": self.direction,
            "duration": None if self.duration is None else str(self.duration),
            "end_time": _rfc2822(self.ended_at) if self.ended_at else None,
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": self.parent_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": _rfc2822(self.started_at) if self.started_at else None,
            "status": self.status,
            "subresource_uris": {
                "recordings": f"{uri}/Recordings.json",
                "notifications": f"{uri}/Notifications.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


@dataclass
class FakeRecording:
    sid: str
    call_sid: str
    duration: int
    source: str
    channels: int = 1
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self, account_sid: str) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Recordings/{self.sid}"
        return {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "call_sid": self.call_sid,
            "channels": self.channels,
            "conference_sid": None,
            "date_created": _rfc2822(self.created_at),
            "date_updated": _rfc2822(self.created_at),
            "duration": str(self.duration),
            "encryption_details": None,
            "error_code": None,
            "media_url": f"https://api.twilio.com{uri}",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "source": self.source,
            "start_time": _rfc2822(self.created_at),
            "status": "completed",
            "subresource_uris": {"transcriptions": f"{uri}/Transcriptions.json"},
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class Webhook:
    """One request the driver made to the app, and the app's answer."""

    call_sid: str
    kind: str  # "status", "answer", "gather", "number", "dial", "recording"
    url: str
    params: dict[str, str]
    status_code: int
    body: str


class FakeVoice:
    """Twilio's Calls and Recordings API, in memory; ``fake_twilio.voice``."""

    def __init__(self, twilio: FakeTwilio) -> None:
        self.twilio = twilio
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: dict[str, FakeCall] = {}
            self._recordings: dict[str, FakeRecording] = {}
            self._deleted: set[str] = set()
            self._failures: list[tuple[int, int, str]] = []
            self._webhooks: list[Webhook] = []

    # What the fake holds ---------------------------------------------------------

    @property
    def calls(self) -> list[FakeCall]:
        """Every call leg, oldest first (Dial legs too, with ``parent_sid``)."""
        with self._lock:
            return list(self._calls.values())

    def call(self, sid: str) -> FakeCall:
        with self._lock:
            return self._calls[sid]

    @property
    def recordings(self) -> list[FakeRecording]:
        with self._lock:
            return list(self._recordings.values())

    @property
    def deleted_recordings(self) -> set[str]:
        with self._lock:
            return set(self._deleted)

    @property
    def webhooks(self) -> list[Webhook]:
        with self._lock:
            return list(self._webhooks)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request to the Calls and Recordings API, as the fake received it."""
        return [
            request
            for request in self.twilio.requests
            if "/Calls" in request.path or "/Recordings" in request.path
        ]

    @property
    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and CALLS_PATH.fullmatch(r.path)]

    @property
    def updates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and CALL_PATH.fullmatch(r.path)]

    # Programming it --------------------------------------------------------------

    def fail_next(self, status: int = 500, code: int = 20500, *, times: int = 1) -> None:
        """Refuse the next ``times`` call creates and updates with this error."""
        with self._lock:
            self._failures.extend([(status, code, "Injected failure")] * times)

    def add_recording(self, call_sid: str, *, duration: int = 30, source: str = "DialVerb") -> str:
        """A recording of ``call_sid`` (as if Twilio made one); returns its sid."""
        recording = FakeRecording("RE" + secrets.token_hex(16), call_sid, duration, source)
        with self._lock:
            self._recordings[recording.sid] = recording
        return recording.sid

    def drive(self, sid: str, *, client: Any = None, base_url: str = "") -> CallDriver:
        """Play Twilio's part of call ``sid`` against the app: through the Django test
        ``client`` (URLs under ``PUBLIC_BASE_URL`` become paths), or over HTTP."""
        return CallDriver(self, sid, App(self.twilio.auth_token, client=client, base_url=base_url))

    # The REST API (called from the server's threads) -----------------------------

    def handle(self, request: RecordedRequest) -> _Answer | None:
        """The answer to ``request`` if it is for the voice API, else None."""
        for pattern, method, handler in (
            (CALLS_PATH, "POST", self._create),
            (CALLS_PATH, "GET", self._list_calls),
            (CALL_PATH, "GET", self._fetch_call),
            (CALL_PATH, "POST", self._update),
            (CALL_RECORDINGS_PATH, "GET", self._list_recordings),
            (RECORDINGS_PATH, "GET", self._list_recordings),
            (RECORDING_PATH, "GET", self._fetch_recording),
            (RECORDING_PATH, "DELETE", self._delete_recording),
        ):
            match = pattern.fullmatch(request.path)
            if match and request.method == method:
                if match["account"] != self.twilio.account_sid:
                    return self._error(401, 20003, "Authenticate")
                # Twilio in an incident (fake_twilio.fault) refuses every voice request.
                if (fault := self.twilio._fault) is not None:
                    return self.twilio._error(fault)
                return handler(request, match)
        if any(p.fullmatch(request.path) for p in (CALLS_PATH, CALL_PATH, RECORDING_PATH)):
            return self._error(405, 20004, "Method not allowed")
        return None

    def _injected(self) -> _Answer | None:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        return self._error(*failure) if failure is not None else None

    def _create(self, request: RecordedRequest, match: re.Match[str]) -> _Answer:
        if (injected := self._injected()) is not None:
            return injected
        form = request.form
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            return self._error(400, 21201)
        if not E164.fullmatch(to) and not to.startswith("client:"):
            return self._error(400, 21211, detail=to)
        if not sender:
            return self._error(400, 21213)
        if not E164.fullmatch(sender):
            return self._error(400, 21212, detail=sender)
        url, twiml = form.get("Url", ""), form.get("Twiml", "")
        if not (url or twiml or form.get("ApplicationSid")):
            return self._error(400, 21205, detail="(none)")
        for name in ("Url", "StatusCallback", "RecordingStatusCallback"):
            if form.get(name) and not re.match(r"https?://", form[name]):
                return self._error(400, 21205, detail=form[name])
        # Stricter than Twilio, which takes a bad event and never calls back: a test
        # should hear about it.
        events = set(request.form_lists.get("StatusCallbackEvent", []))
        if events - STATUS_EVENTS:
            return self._error(400, 21626, detail=", ".join(sorted(events - STATUS_EVENTS)))
        detection = form.get("MachineDetection", "")
        if detection and detection not in MACHINE_DETECTION:
            return self._error(400, 20001, detail=f"MachineDetection {detection}")
        try:
            timeout = int(form.get("Timeout", "60"))
            time_limit = int(form["TimeLimit"]) if "TimeLimit" in form else None
        except ValueError:
            return self._error(400, 20001, detail="Timeout")
        call = FakeCall(
            sid="CA" + secrets.token_hex(16),
            to=to,
            from_=sender,
            url=url,
            twiml=twiml,
            status_callback=form.get("StatusCallback", ""),
            status_events=frozenset(events),
            machine_detection=detection,
            record=form.get("Record", "").lower() == "true",
            recording_status_callback=form.get("RecordingStatusCallback", ""),
            timeout=timeout,
            time_limit=time_limit,
        )
        with self._lock:
            self._calls[call.sid] = call
        return self._answer(201, call.as_json(self.twilio.account_sid))

    def _fetch_call(self, request: RecordedRequest, match: re.Match[str]) -> _Answer:
        with self._lock:
            call = self._calls.get(match["sid"])
        if call is None:
            return self._error(404, 20404, path=request.path)
        return self._answer(200, call.as_json(self.twilio.account_sid))

    def _list_calls(self, request: RecordedRequest, match: re.Match[str]) -> _Answer:
        query = request.query
        with self._lock:
            calls = [
                call.as_json(self.twilio.account_sid)
                for call in reversed(self._calls.values())
                if all(
                    query.get(name) in (None, value)
                    for name, value in (
                        ("To", call.to),
                        ("From", call.from_),
                        ("Status", call.status),
                        ("ParentCallSid", call.parent_sid),
                    )
                )
            ]
        return self._answer(200, self._page("calls", calls, request.path))

    def _update(self, request: RecordedRequest, match: re.Match[str]) -> _Answer:
        if (injected := self._injected()) is not None:
            return injected
        form = request.form
        with self._lock:
            call = self._calls.get(match["sid"])
            if call is None:
                return self._error(404, 20404, path=request.path)
            status = form.get("Status", "")
            if status and status not in {"completed", "canceled"}:
                return self._error(400, 20001, detail=f"Status {status}")
            if form.get("Url") or form.get("Twiml"):
                if call.status != "in-progress":
                    return self._error(400, 21220)
                call.url, call.twiml = form.get("Url", ""), form.get("Twiml", "")
                call.redirects.append({"Url": call.url, "Twiml": call.twiml})
            if status and call.status not in FINAL:
                now = datetime.now(UTC)
                if call.status in {"queued", "initiated", "ringing"}:
                    # Ending a call nobody answered cancels it, whichever status was asked.
                    call.status, call.ended_at, call.duration = "canceled", now, 0
                elif status == "completed":
                    started = call.started_at or now
                    call.status, call.ended_at = "completed", now
                    call.duration = int((now - started).total_seconds())
                # "canceled" leaves an answered call alone, as Twilio does.
            payload = call.as_json(self.twilio.account_sid)
        return self._answer(200, payload)

    def _list_recordings(self, request: RecordedRequest, match: re.Match[str]) -> _Answer:
        call_sid = match.groupdict().get("sid") or request.query.get("CallSid")
        with self._lock:
            found = [
                recording.as_json(self.twilio.account_sid)
                for recording in reversed(self._recordings.values())
                if call_sid is None or recording.call_sid == call_sid
            ]
        return self._answer(200, self._page("recordings", found, request.path))

    def _fetch_recording(self, request: RecordedRequest, match: re.Match[str]) -> _Answer:
        from tests.fake_twilio import _Answer

        with self._lock:
            recording = self._recordings.get(match["sid"])
        if recording is None:
            return self._error(404, 20404, path=request.path)
        extension = match["ext"] or ".wav"  # Twilio's default media is WAV
        if extension == ".json":
            return self._answer(200, recording.as_json(self.twilio.account_sid))
        if extension == ".mp3":
            return _Answer(200, content=recording_mp3(recording.sid), content_type="audio/mpeg")
        return _Answer(200, content=recording_wav(), content_type="audio/x-wav")

    def _delete_recording(self, request: RecordedRequest, match: re.Match[str]) -> _Answer:
        from tests.fake_twilio import _Answer

        if match["ext"] not in (None, ".json"):
            return self._error(405, 20004, "Method not allowed")
        with self._lock:
            recording = self._recordings.pop(match["sid"], None)
            if recording is not None:
                self._deleted.add(recording.sid)
        if recording is None:
            return self._error(404, 20404, path=request.path)
        return _Answer(204, content=b"", content_type="")

    @staticmethod
    def _page(key: str, rows: list[dict[str, Any]], path: str) -> dict[str, Any]:
        return {
            key: rows,
            "end": max(len(rows) - 1, 0),
            "first_page_uri": f"{path}?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": f"{path}?PageSize=50&Page=0",
        }

    def _answer(self, status: int, payload: dict[str, Any]) -> _Answer:
        from tests.fake_twilio import _Answer

        return _Answer(status, payload)

    def _error(self, status: int, code: int, message: str = "", **details: str) -> _Answer:
        from tests.fake_twilio import Failure

        text = message or VOICE_ERRORS.get(code, "Error").format(
            detail=details.get("detail", ""), path=details.get("path", "")
        )
        return self.twilio._error(Failure(status, code, text))

    # The driver's bookkeeping -----------------------------------------------------

    def _child_create(
        self, parent: FakeCall, *, to: str, caller_id: str, number: ET.Element
    ) -> FakeCall:
        events = frozenset((number.get("statusCallbackEvent") or "").split())
        child = FakeCall(
            sid="CA" + secrets.token_hex(16),
            to=to,
            from_=caller_id,
            url=number.get("url", ""),
            status_callback=number.get("statusCallback", ""),
            status_events=events,
            machine_detection=number.get("machineDetection", ""),
            parent_sid=parent.sid,
            direction="outbound-dial",
        )
        with self._lock:
            self._calls[child.sid] = child
        return child

    def _log(self, webhook: Webhook) -> None:
        with self._lock:
            self._webhooks.append(webhook)


class App:
    """Where the driver's webhooks go, signed with the fake's auth token the way
    Twilio signs them (``X-Twilio-Signature`` over the full URL and the form)."""

    def __init__(self, auth_token: str, *, client: Any = None, base_url: str = "") -> None:
        self.validator = RequestValidator(auth_token)
        self.client = client
        self.base_url = base_url

    def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        signature = self.validator.compute_signature(url, params)
        if self.client is not None:
            from django.conf import settings

            base = self.base_url or settings.PUBLIC_BASE_URL
            assert url.startswith(base), f"{url} is not under PUBLIC_BASE_URL {base}"
            response = self.client.post(
                url[len(base) :] or "/",
                urlencode(params),
                content_type="application/x-www-form-urlencoded",
                HTTP_X_TWILIO_SIGNATURE=signature,
            )
            return response.status_code, response.content.decode()
        request = urllib.request.Request(  # noqa: S310 (a test server's http URL)
            url,
            data=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
                "User-Agent": "TwilioProxy/1.1",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def twiml_parse(body: str) -> ET.Element:
    """The app's TwiML answer as an element tree (``<Response>``)."""
    root = ET.fromstring(body)  # noqa: S314 (the app under test wrote it)
    assert root.tag == "Response", body
    return root


class CallDriver:
    """Twilio's side of one call leg, played against the app."""

    def __init__(self, voice: FakeVoice, sid: str, app: App) -> None:
        self.voice = voice
        self.sid = sid
        self.app = app
        # Each status callback is delivered this many times (Twilio delivers some twice).
        self.repeat = 1
        # A 5xx answer to a status callback is posted again, up to this many times
        # (Twilio's connection override #rc=N).
        self.retries = 0
        # The TwiML document the call is running, and where it came from.
        self.document: ET.Element | None = None
        self.document_url = ""
        self._held: list[tuple[str, dict[str, str]]] | None = None
        self._parent: CallDriver | None = None

    @property
    def call(self) -> FakeCall:
        return self.voice.call(self.sid)

    # Delivery --------------------------------------------------------------------

    @contextlib.contextmanager
    def held(self, *, order: str | list[int] = "reversed", seed: int = 0) -> Iterator[None]:
        """Hold status callbacks back and deliver them when the block ends, in
        ``order``: "reversed", "shuffled" (with ``seed``) or a list of indexes."""
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            if order == "reversed":
                ordered = list(reversed(held))
            elif order == "shuffled":
                ordered = held[:]
                random.Random(seed).shuffle(ordered)
            else:
                assert isinstance(order, list)
                ordered = [held[index] for index in order]
            for url, params in ordered:
                self._deliver(url, params)

    def _deliver(self, url: str, params: dict[str, str]) -> None:
        for _ in range(self.repeat):
            for _attempt in range(self.retries + 1):
                status, body = self.app.post(url, params)
                self.voice._log(Webhook(self.sid, "status", url, params, status, body))
                if status < 500:
                    break

    def _status(self, status: str, **extra: str) -> None:
        """Move the leg to ``status`` and send its status callback if subscribed."""
        call = self.call
        now = datetime.now(UTC)
        with self.voice._lock:
            call.status = status
            if status == "in-progress":
                call.started_at = now
            if status in FINAL:
                call.ended_at = now
        event = EVENT_OF_STATUS.get(status, "completed")
        if not call.status_callback:
            return
        if event != "completed" and event not in call.status_events:
            return  # Twilio sends "completed" always, the others when asked
        with self.voice._lock:
            sequence = call.sequence
            call.sequence += 1
        params = {
            **self._params(),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": _rfc2822(now),
            **extra,
        }
        if status in FINAL:
            duration = call.duration or 0
            params.update(
                CallDuration=str(duration),
                Duration=str(math.ceil(duration / 60)),
                SipResponseCode=SIP_CODES[status],
            )
        if self._held is not None:
            self._held.append((call.status_callback, params))
        else:
            self._deliver(call.status_callback, params)

    def _params(self) -> dict[str, str]:
        call = self.call
        params = {
            "AccountSid": self.voice.twilio.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    def _fetch(self, kind: str, url: str, extra: dict[str, str] | None = None) -> ET.Element:
        params = {**self._params(), **(extra or {})}
        status, body = self.app.post(url, params)
        self.voice._log(Webhook(self.sid, kind, url, params, status, body))
        assert status == 200, f"{kind} {url}: HTTP {status} {body[:300]}"
        self.document, self.document_url = twiml_parse(body), url
        return self.document

    # What happens on the line ----------------------------------------------------

    def ring(self) -> None:
        """Twilio dials: ``initiated``, then ``ringing``."""
        self._status("initiated")
        self._status("ringing")

    def answer(self, *, answered_by: str = "") -> ET.Element:
        """Picked up: the ``answered`` callback, then the TwiML the call runs (its
        Url, a redirect's, its inline Twiml, or a Dial leg's ``<Number url>``).
        ``answered_by`` is what machine detection concluded, if it was on."""
        call = self.call
        if call.machine_detection:
            answered_by = answered_by or "human"
            assert answered_by in ANSWERED_BY, answered_by
            with self.voice._lock:
                call.answered_by = answered_by
        self._status("in-progress")
        if call.twiml and not call.url:
            self.document, self.document_url = twiml_parse(call.twiml), ""
            return self.document
        if not call.url:
            # A Dial leg without <Number url>: bridged at once, nothing to fetch.
            self.document = twiml_parse("<Response/>")
            return self.document
        kind = "number" if call.parent_sid else "answer"
        return self._fetch(kind, call.url)

    def redirected(self) -> ET.Element:
        """After the app redirected the call (Calls API Url/Twiml): what it runs now."""
        call = self.call
        if call.twiml and not call.url:
            self.document, self.document_url = twiml_parse(call.twiml), ""
            return self.document
        return self._fetch("answer", call.url)

    def _verb(self, tag: str) -> ET.Element:
        assert self.document is not None, "answer() the call first"
        found = self.document.find(tag)
        assert found is not None, f"no <{tag}> in {ET.tostring(self.document).decode()}"
        return found

    def _resolve(self, url: str) -> str:
        return urljoin(self.document_url, url) if self.document_url else url

    def press(self, digits: str) -> ET.Element:
        """Keys pressed during the ``<Gather>``: Twilio posts them to its action."""
        gather = self._verb("Gather")
        action = gather.get("action") or self.document_url
        number = gather.get("numDigits")
        if number:
            digits = digits[: int(number)]
        return self._fetch("gather", self._resolve(action), {"Digits": digits, "msg": "Gather End"})

    def silence(self) -> list[ET.Element]:
        """No key pressed: Twilio goes on with the verbs after the ``<Gather>``."""
        assert self.document is not None
        verbs = list(self.document)
        gather = self._verb("Gather")
        return verbs[verbs.index(gather) + 1 :]

    def dial(self) -> CallDriver:
        """Twilio runs the ``<Dial><Number>``: a new call leg from the Dial's
        ``callerId`` to the number, driven by the returned driver."""
        dial = self._verb("Dial")
        number = dial.find("Number")
        assert number is not None, "a <Dial> without <Number>"
        to = (number.text or "").strip()
        caller_id = dial.get("callerId") or self.call.from_
        child = self.voice._child_create(self.call, to=to, caller_id=caller_id, number=number)
        driver = CallDriver(self.voice, child.sid, self.app)
        driver.repeat, driver.retries = self.repeat, self.retries
        driver._parent = self
        return driver

    def _end(self, status: str, duration: int) -> None:
        call = self.call
        with self.voice._lock:
            call.duration = duration
        self._status(status)
        parent = self._parent
        if parent is not None:
            self._dial_ended(parent, status, duration)
        elif call.record and status == "completed":
            self._recorded(self, duration, source="OutboundAPI")

    def _dial_ended(self, parent: CallDriver, status: str, duration: int) -> None:
        """The Dial leg ended: its recording (if the Dial records), then the Dial's
        action on the parent leg with DialCallStatus."""
        dial = parent._verb("Dial")
        if status == "completed" and dial.get("record") in DIAL_RECORDS:
            parent._recorded(
                parent,
                duration,
                source="DialVerb",
                callback=dial.get("recordingStatusCallback", ""),
            )
        action = dial.get("action")
        if not action:
            return
        parent._fetch(
            "dial",
            parent._resolve(action),
            {
                "DialCallSid": self.sid,
                "DialCallStatus": status,
                "DialCallDuration": str(duration),
                "DialBridged": "true" if status == "completed" else "false",
            },
        )

    def _recorded(self, leg: CallDriver, duration: int, *, source: str, callback: str = "") -> None:
        sid = self.voice.add_recording(leg.sid, duration=duration, source=source)
        callback = callback or leg.call.recording_status_callback
        if not callback:
            return
        account = self.voice.twilio.account_sid
        params = {
            "AccountSid": account,
            "CallSid": leg.sid,
            "RecordingSid": sid,
            "RecordingUrl": f"https://api.twilio.com/{API_VERSION}/Accounts/{account}/Recordings/{sid}",
            "RecordingStatus": "completed",
            "RecordingDuration": str(duration),
            "RecordingChannels": "1",
            "RecordingSource": source,
            "RecordingStartTime": _rfc2822(datetime.now(UTC)),
        }
        status, body = self.app.post(callback, params)
        self.voice._log(Webhook(leg.sid, "recording", callback, params, status, body))

    def complete(self, *, duration: int) -> None:
        """The call ends after ``duration`` seconds: ``completed`` with CallDuration."""
        self._end("completed", duration)

    def busy(self) -> None:
        self._end("busy", 0)

    def no_answer(self) -> None:
        self._end("no-answer", 0)

    def fail(self) -> None:
        self._end("failed", 0)

    def cancel(self) -> None:
        """Hung up by us before it was answered (a Calls API update)."""
        self._end("canceled", 0)

    def report_end(self) -> None:
        """The call already ended through the Calls API (the app hung it up): Twilio's
        final status callback for the status the fake gave it."""
        call = self.call
        assert call.status in FINAL, f"{call.sid} is still {call.status}"
        self._status(call.status)
