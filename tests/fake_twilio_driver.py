"""Twilio's part of a call, played against the app by the fake Twilio
(tests/fake_twilio_voice.py): signed status callbacks in the order Twilio sends
them, the TwiML fetches (the call's Url when answered, the ``<Gather>`` action, the
``<Dial>``'s ``<Number url>`` and action), and, on demand, duplicates, retries and
out-of-order delivery::

    sid = voice_backend().call_create(...)               # the app placed a call
    call = fake_twilio.voice.drive(sid, client=client)   # or base_url= a live server
    call.ring()                                          # initiated, ringing
    call.answer()                                        # answered, then the call's Url
    call.press("1")                                      # the <Gather> action, Digits=1
    person = call.dial()                                 # the <Dial><Number> leg
    person.ring(); person.answer(answered_by="human")
    person.complete(duration=95)                         # its callback, then the Dial action
    call.complete(duration=110)

    call.repeat = 2                                      # every status callback twice
    call.retries = 2                                     # a 5xx is posted again, twice
    with call.held(order="reversed"):                    # delivered at the end, reversed
        call.ring(); call.no_answer()

Every webhook the driver posted, with the app's answer, is in ``voice.webhooks``.
The fake never posts on its own: a test decides when Twilio "does" something.
"""

from __future__ import annotations

import contextlib
import math
import random
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urljoin

from twilio.request_validator import RequestValidator

from tests.fake_twilio_voice import (
    ANSWERED_BY,
    API_VERSION,
    DIAL_RECORDS,
    EVENT_OF_STATUS,
    FINAL,
    SIP_CODES,
    FakeCall,
    FakeVoice,
    Webhook,
    _rfc2822,
)


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
