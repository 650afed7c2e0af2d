"""Twilio Programmable Voice in the fake Twilio (tests/fake_twilio.py):
``fake_twilio.voice`` answers the REST API the app's voice backend speaks to, with
Twilio's JSON shapes and errors: the Calls API (create, fetch, update to end or
redirect a call, list) and the Recordings API (list a call's recordings, fetch one's
metadata, fetch its media as .mp3 or .wav, delete it). Every request is recorded
(``voice.requests``, ``voice.creates``, ``voice.updates``).

``voice.drive(sid, client=...)`` returns the driver that plays Twilio's part of a
call against the app (tests/fake_twilio_driver.py).
"""

from __future__ import annotations

import io
import re
import secrets
import struct
import threading
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fake_twilio import FakeTwilio, RecordedRequest, _Answer
    from tests.fake_twilio_driver import CallDriver

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
            self._recording_failures: list[tuple[int, int, str]] = []
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

    def fail_next_recording(self, status: int = 500, code: int = 20500, *, times: int = 1) -> None:
        """Refuse the next ``times`` requests to the Recordings API (list, fetch, delete)
        with this error."""
        with self._lock:
            self._recording_failures.extend([(status, code, "Injected failure")] * times)

    def remove_recording(self, sid: str) -> None:
        """The recording went at Twilio without the app (deleted in Twilio's Console):
        the API answers 404 for it from now on."""
        with self._lock:
            self._recordings.pop(sid, None)

    def add_recording(self, call_sid: str, *, duration: int = 30, source: str = "DialVerb") -> str:
        """A recording of ``call_sid`` (as if Twilio made one); returns its sid."""
        recording = FakeRecording("RE" + secrets.token_hex(16), call_sid, duration, source)
        with self._lock:
            self._recordings[recording.sid] = recording
        return recording.sid

    def drive(self, sid: str, *, client: Any = None, base_url: str = "") -> CallDriver:
        """Play Twilio's part of call ``sid`` against the app: through the Django test
        ``client`` (URLs under ``PUBLIC_BASE_URL`` become paths), or over HTTP."""
        from tests.fake_twilio_driver import App, CallDriver

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

    def _recording_injected(self) -> _Answer | None:
        with self._lock:
            failures = self._recording_failures
            failure = failures.pop(0) if failures else None
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
        if (injected := self._recording_injected()) is not None:
            return injected
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

        if (injected := self._recording_injected()) is not None:
            return injected
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

        if (injected := self._recording_injected()) is not None:
            return injected
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
