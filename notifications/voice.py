"""The voice transport: placing, ending and redirecting calls, and the recordings of
calls, through a backend chosen by ``VOICE_BACKEND`` like the SMS backends.

Every backend implements :class:`VoiceBackend`. What a call says is TwiML the app
serves from its webhooks (``notifications.twiml`` builds it); the transport only asks
the provider to place a call that fetches it. A failure leaves as
:class:`notifications.backends.TransportError`, which says whether a retry can help;
callers never see vendor exceptions. Numbers never reach a log line: the console
backend names call ids only.
"""

from __future__ import annotations

import itertools
import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from django.conf import settings

from notifications.backends import (
    TWILIO_API,
    TransportError,
    retry_after_seconds,
    twilio_rest_client,
)
from notifications.metrics import TWILIO_ERRORS

logger = logging.getLogger(__name__)

# The status callback events a call reports (Twilio's names).
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
# Statuses after which nothing more happens on a call.
CALL_FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Answering machine detection: "Enable" answers as soon as it knows; "DetectMessageEnd"
# waits for the greeting's end (the beep), so a voicemail can be left after it.
MACHINE_DETECTION = frozenset({"", "Enable", "DetectMessageEnd"})
RECORDING_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}


@dataclass(frozen=True)
class CallRequest:
    """One call to place. ``url`` is the TwiML webhook the provider fetches once the
    call is answered; ``status_callback`` hears ``status_events``; ``timeout`` is how
    long it rings (seconds)."""

    to: str
    caller_id: str
    url: str
    status_callback: str = ""
    status_events: tuple[str, ...] = CALL_EVENTS
    timeout: int | None = None
    machine_detection: str = ""
    record: bool = False
    recording_status_callback: str = ""
    # The longest the call may last, seconds (a runaway bridge costs money).
    time_limit: int | None = None

    def __post_init__(self) -> None:
        if self.machine_detection not in MACHINE_DETECTION:
            raise ValueError(f"machine_detection must be one of {sorted(MACHINE_DETECTION)}")
        unknown = set(self.status_events) - set(CALL_EVENTS)
        if unknown:
            raise ValueError(f"Unknown status events {sorted(unknown)}")


@dataclass(frozen=True)
class CallState:
    """What the provider says about a call now."""

    provider_id: str
    # queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled
    status: str
    duration_seconds: int | None = None
    answered_by: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.status in CALL_FINAL_STATUSES


@dataclass(frozen=True)
class Recording:
    provider_id: str
    call_id: str
    duration_seconds: int | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class RecordingMedia:
    """A recording's audio, for the app to stream to a signed-in coordinator (never a
    provider URL in a page)."""

    content: bytes
    content_type: str


class VoiceBackend(ABC):
    @abstractmethod
    def call_create(self, request: CallRequest) -> str:
        """Ask the provider to place a call; return its id for the call."""

    @abstractmethod
    def call_update(
        self, provider_id: str, *, status: str = "", url: str = "", twiml: str = ""
    ) -> CallState:
        """End a call (``status`` "completed" hangs it up whatever its state;
        "canceled" only one not answered yet) or redirect an answered call to other
        TwiML (``url`` or ``twiml``). Ending a call that already ended is not an error."""

    @abstractmethod
    def call_fetch(self, provider_id: str) -> CallState:
        """The call as the provider sees it now."""

    @abstractmethod
    def call_recordings(self, provider_id: str) -> list[Recording]:
        """The recordings of a call (none unless it was recorded)."""

    @abstractmethod
    def recording_fetch(self, provider_id: str, *, media_format: str = "mp3") -> RecordingMedia:
        """A recording's audio, ``media_format`` "mp3" or "wav"."""

    @abstractmethod
    def recording_delete(self, provider_id: str) -> bool:
        """Delete a recording at the provider; False if it was already gone."""


def _check_update(status: str, url: str, twiml: str) -> None:
    if status not in ("", "completed", "canceled"):
        raise ValueError("status may only be completed or canceled")
    if bool(status) + bool(url) + bool(twiml) != 1:
        raise ValueError("Give exactly one of status, url or twiml")


def _check_format(media_format: str) -> None:
    if media_format not in RECORDING_FORMATS:
        raise ValueError(f"media_format must be one of {sorted(RECORDING_FORMATS)}")


class ConsoleVoiceBackend(VoiceBackend):
    """Development: logs call ids (never numbers) and places nothing; a fetch reports
    the call completed, so nothing waits on a call that will never ring."""

    _counter = itertools.count(1)
    _lock = threading.Lock()

    def call_create(self, request: CallRequest) -> str:
        with self._lock:
            provider_id = f"console-call-{next(self._counter)}"
        logger.info("voice.console.call_create", extra={"call": provider_id})
        return provider_id

    def call_update(
        self, provider_id: str, *, status: str = "", url: str = "", twiml: str = ""
    ) -> CallState:
        _check_update(status, url, twiml)
        logger.info("voice.console.call_update", extra={"call": provider_id, "status": status})
        return CallState(provider_id=provider_id, status=status or "in-progress")

    def call_fetch(self, provider_id: str) -> CallState:
        return CallState(provider_id=provider_id, status="completed", duration_seconds=0)

    def call_recordings(self, provider_id: str) -> list[Recording]:
        return []

    def recording_fetch(self, provider_id: str, *, media_format: str = "mp3") -> RecordingMedia:
        _check_format(media_format)
        raise TransportError("The console voice backend keeps no recordings", permanent=True)

    def recording_delete(self, provider_id: str) -> bool:
        return False


@dataclass
class _LocmemCall:
    request: CallRequest
    state: CallState
    updates: list[dict[str, str]] = field(default_factory=list)


class LocmemVoiceBackend(VoiceBackend):
    """Tests: keeps every call in ``LocmemVoiceBackend.calls`` (provider id to the
    request, its state and the updates asked for) and recordings put in
    ``recordings`` (provider id to (Recording, bytes)). Errors put in ``failures``
    are raised, one per create or update, before anything is kept."""

    calls: ClassVar[dict[str, _LocmemCall]] = {}
    recordings: ClassVar[dict[str, tuple[Recording, bytes]]] = {}
    failures: ClassVar[list[TransportError]] = []
    _counter = itertools.count(1)

    @classmethod
    def reset(cls) -> None:
        cls.calls.clear()
        cls.recordings.clear()
        cls.failures.clear()

    @classmethod
    def sent_to(cls, number: str) -> list[CallRequest]:
        return [call.request for call in cls.calls.values() if call.request.to == number]

    def _fail(self) -> None:
        if LocmemVoiceBackend.failures:
            raise LocmemVoiceBackend.failures.pop(0)

    def _get(self, provider_id: str) -> _LocmemCall:
        try:
            return LocmemVoiceBackend.calls[provider_id]
        except KeyError:
            raise TransportError("Unknown call", code="20404", permanent=True) from None

    def call_create(self, request: CallRequest) -> str:
        self._fail()
        provider_id = f"CAlocmem{next(self._counter):026d}"
        LocmemVoiceBackend.calls[provider_id] = _LocmemCall(
            request, CallState(provider_id=provider_id, status="queued")
        )
        return provider_id

    def call_update(
        self, provider_id: str, *, status: str = "", url: str = "", twiml: str = ""
    ) -> CallState:
        _check_update(status, url, twiml)
        self._fail()
        call = self._get(provider_id)
        call.updates.append({"status": status, "url": url, "twiml": twiml})
        if status and not call.state.ended:
            answered = call.state.status == "in-progress"
            ended = "completed" if answered else "canceled"
            if status == "completed" or not answered:
                call.state = replace(call.state, status=ended)
        elif (url or twiml) and call.state.status != "in-progress":
            raise TransportError("Call is not in progress", code="21220", permanent=True)
        return call.state

    def call_fetch(self, provider_id: str) -> CallState:
        return self._get(provider_id).state

    def call_recordings(self, provider_id: str) -> list[Recording]:
        return [
            recording
            for recording, _content in LocmemVoiceBackend.recordings.values()
            if recording.call_id == provider_id
        ]

    def recording_fetch(self, provider_id: str, *, media_format: str = "mp3") -> RecordingMedia:
        _check_format(media_format)
        if provider_id not in LocmemVoiceBackend.recordings:
            raise TransportError("Unknown recording", code="20404", permanent=True)
        _recording, content = LocmemVoiceBackend.recordings[provider_id]
        return RecordingMedia(content=content, content_type=RECORDING_FORMATS[media_format])

    def recording_delete(self, provider_id: str) -> bool:
        return LocmemVoiceBackend.recordings.pop(provider_id, None) is not None


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def _seconds(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


class TwilioVoiceBackend(VoiceBackend):
    """Production: Twilio Programmable Voice through the official client. One backend
    keeps one HTTP session: placing several calls through it reuses the connection."""

    def __init__(self) -> None:
        self.client, self.http_client = twilio_rest_client()

    def _error(self, error: Exception, *, what: str) -> TransportError:
        from twilio.base.exceptions import TwilioRestException

        if isinstance(error, TwilioRestException):
            TWILIO_ERRORS.labels(str(error.status)).inc()
            code = str(error.code or error.status)
            transient = error.status == 429 or error.status >= 500
            return TransportError(
                f"Twilio refused to {what} (HTTP {error.status})",
                code=code,
                permanent=not transient,
                retry_after=retry_after_seconds(self.http_client.retry_after)
                if transient
                else None,
            )
        TWILIO_ERRORS.labels("network").inc()
        return TransportError(
            f"Twilio unreachable: {type(error).__name__}", code="network", permanent=False
        )

    @staticmethod
    def _state(call: Any) -> CallState:
        return CallState(
            provider_id=call.sid,
            status=str(call.status),
            duration_seconds=_seconds(call.duration),
            answered_by=call.answered_by or "",
            started_at=_moment(call.start_time),
            ended_at=_moment(call.end_time),
        )

    def call_create(self, request: CallRequest) -> str:
        from twilio.base.exceptions import TwilioException

        options: dict[str, Any] = {
            "to": request.to,
            "from_": request.caller_id,
            "url": request.url,
        }
        if request.status_callback:
            options["status_callback"] = request.status_callback
            options["status_callback_event"] = list(request.status_events)
        if request.timeout is not None:
            options["timeout"] = request.timeout
        if request.machine_detection:
            options["machine_detection"] = request.machine_detection
        if request.record:
            options["record"] = True
            if request.recording_status_callback:
                options["recording_status_callback"] = request.recording_status_callback
        if request.time_limit is not None:
            options["time_limit"] = request.time_limit
        try:
            return self.client.calls.create(**options).sid
        except (TwilioException, OSError) as error:
            raise self._error(error, what="place the call") from error

    def call_update(
        self, provider_id: str, *, status: str = "", url: str = "", twiml: str = ""
    ) -> CallState:
        from twilio.base.exceptions import TwilioException

        _check_update(status, url, twiml)
        given = (("status", status), ("url", url), ("twiml", twiml))
        options = {name: value for name, value in given if value}
        try:
            return self._state(self.client.calls(provider_id).update(**options))
        except (TwilioException, OSError) as error:
            raise self._error(error, what="update the call") from error

    def call_fetch(self, provider_id: str) -> CallState:
        from twilio.base.exceptions import TwilioException

        try:
            return self._state(self.client.calls(provider_id).fetch())
        except (TwilioException, OSError) as error:
            raise self._error(error, what="fetch the call") from error

    def call_recordings(self, provider_id: str) -> list[Recording]:
        from twilio.base.exceptions import TwilioException

        try:
            found = self.client.calls(provider_id).recordings.list(limit=100)
        except (TwilioException, OSError) as error:
            raise self._error(error, what="list the call's recordings") from error
        return [
            Recording(
                provider_id=recording.sid,
                call_id=recording.call_sid,
                duration_seconds=_seconds(recording.duration),
                created_at=_moment(recording.date_created),
            )
            for recording in found
        ]

    def recording_fetch(self, provider_id: str, *, media_format: str = "mp3") -> RecordingMedia:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        _check_format(media_format)
        path = f"/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Recordings/{provider_id}"
        try:
            # Through the HTTP client's own session (the same connection), not the
            # text-decoding request(): audio is bytes.
            response = self.http_client.session.get(
                (settings.TWILIO_API_BASE or TWILIO_API) + f"{path}.{media_format}",
                auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
                timeout=settings.TWILIO_TIMEOUT_SECONDS,
            )
        except (TwilioException, OSError) as error:
            raise self._error(error, what="fetch the recording") from error
        if response.status_code >= 400:
            self.http_client.retry_after = response.headers.get("Retry-After")
            try:
                code = response.json().get("code")
            except ValueError:
                code = None
            raise self._error(
                TwilioRestException(
                    response.status_code, path, msg="Recording fetch refused", code=code
                ),
                what="fetch the recording",
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0]
        return RecordingMedia(
            content=response.content,
            content_type=content_type or RECORDING_FORMATS[media_format],
        )

    def recording_delete(self, provider_id: str) -> bool:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            return bool(self.client.recordings(provider_id).delete())
        except TwilioRestException as error:
            if error.status == 404:
                return False
            raise self._error(error, what="delete the recording") from error
        except (TwilioException, OSError) as error:
            raise self._error(error, what="delete the recording") from error


VOICE_BACKENDS: dict[str, type[VoiceBackend]] = {
    "console": ConsoleVoiceBackend,
    "locmem": LocmemVoiceBackend,
    "twilio": TwilioVoiceBackend,
}


def voice_backend() -> VoiceBackend:
    """The backend ``VOICE_BACKEND`` names. One instance per unit of work: a task that
    places several calls places them all through one (one connection)."""
    return VOICE_BACKENDS[settings.VOICE_BACKEND]()
