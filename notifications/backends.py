"""SMS transports, chosen by ``SMS_BACKEND`` like Django's email backends.

Every backend implements :class:`SmsBackend`. A transport failure leaves as
:class:`TransportError`, which says whether retrying can help; callers never
look at vendor exceptions.
"""

from __future__ import annotations

import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from django.conf import settings

from notifications.metrics import TWILIO_ERRORS

# Twilio error codes that no retry will fix.
# https://www.twilio.com/docs/api/errors
PERMANENT_TWILIO_ERRORS = frozenset(
    {
        "21211",  # invalid 'To' number
        "21408",  # region not enabled
        "21610",  # recipient replied STOP
        "21612",  # cannot route to this number
        "21614",  # not a mobile number
        "30003",  # unreachable handset
        "30005",  # unknown destination
        "30006",  # landline or unreachable carrier
        "30007",  # carrier filtered as spam
    }
)


class TransportError(Exception):
    """``retry_after``: seconds the provider asked us to wait (its ``Retry-After``),
    when it said; no retry is made sooner."""

    def __init__(
        self, message: str, *, code: str = "", permanent: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class SmsRequest:
    to: str
    body: str
    status_callback: str = ""
    validity_period: int | None = None


class SmsBackend(ABC):
    @abstractmethod
    def send(self, request: SmsRequest) -> str:
        """Hand one SMS to the provider; return the provider's id for it."""

    def find_sent(self, request: SmsRequest, *, since: datetime) -> str | None:
        """The provider id of an identical SMS accepted since ``since``, if the provider
        can tell. Used before resending a message whose earlier attempt crashed."""
        return None


class ConsoleSmsBackend(SmsBackend):
    """Development: prints the SMS, with the number masked, and keeps nothing."""

    _counter = 0
    _lock = threading.Lock()

    def send(self, request: SmsRequest) -> str:
        with self._lock:
            ConsoleSmsBackend._counter += 1
            number = ConsoleSmsBackend._counter
        sys.stdout.write(f"[sms to ...{request.to[-4:]}] {request.body}\n")
        sys.stdout.flush()
        return f"console-{number}"


class LocmemSmsBackend(SmsBackend):
    """Tests: keeps every SMS in ``LocmemSmsBackend.outbox``, like ``mail.outbox``.
    Errors put in ``failures`` are raised, one per send, before anything is kept."""

    outbox: ClassVar[list[SmsRequest]] = []
    failures: ClassVar[list[TransportError]] = []

    def send(self, request: SmsRequest) -> str:
        if LocmemSmsBackend.failures:
            raise LocmemSmsBackend.failures.pop(0)
        LocmemSmsBackend.outbox.append(request)
        return f"locmem-{len(LocmemSmsBackend.outbox)}"

    def find_sent(self, request: SmsRequest, *, since: datetime) -> str | None:
        for index, sent in enumerate(LocmemSmsBackend.outbox, start=1):
            if sent == request:
                return f"locmem-{index}"
        return None


TWILIO_API = "https://api.twilio.com"


def twilio_rest_client() -> tuple[Any, Any]:
    """The official Twilio client and its HTTP client (one keep-alive session: every
    request through one backend reuses its connection), sent to ``TWILIO_API_BASE``
    when set (the tests' fake). The HTTP client keeps the last answer's
    ``Retry-After`` in ``retry_after``: TwilioRestException does not carry headers."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    base = settings.TWILIO_API_BASE

    class _HttpClient(TwilioHttpClient):
        retry_after: str | None = None

        def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
            if base and url.startswith(TWILIO_API):
                url = base + url[len(TWILIO_API) :]
            self.retry_after = None
            response = super().request(method, url, *args, **kwargs)
            self.retry_after = (response.headers or {}).get("Retry-After")
            return response

    http_client = _HttpClient(timeout=settings.TWILIO_TIMEOUT_SECONDS)
    client = Client(
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client
    )
    return client, http_client


class TwilioSmsBackend(SmsBackend):
    """Production: Twilio's Programmable Messaging through the official client."""

    def __init__(self) -> None:
        self.client, self.http_client = twilio_rest_client()

    def _sender(self) -> dict[str, str]:
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            return {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
        return {"from_": settings.TWILIO_FROM_NUMBER}

    def send(self, request: SmsRequest) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        options: dict[str, object] = {"to": request.to, "body": request.body, **self._sender()}
        if request.status_callback:
            options["status_callback"] = request.status_callback
        if request.validity_period:
            options["validity_period"] = request.validity_period
        try:
            return self.client.messages.create(**options).sid
        except TwilioRestException as error:
            TWILIO_ERRORS.labels(str(error.status)).inc()
            code = str(error.code or "")
            transient = error.status == 429 or error.status >= 500 or code in {"20429", "30001"}
            raise TransportError(
                f"Twilio refused the message (HTTP {error.status})",
                code=code or str(error.status),
                permanent=not transient,
                retry_after=retry_after_seconds(self.http_client.retry_after)
                if transient
                else None,
            ) from error
        except (TwilioException, OSError) as error:
            TWILIO_ERRORS.labels("network").inc()
            raise TransportError(
                f"Twilio unreachable: {type(error).__name__}", code="network", permanent=False
            ) from error

    def find_sent(self, request: SmsRequest, *, since: datetime) -> str | None:
        from twilio.base.exceptions import TwilioException

        try:
            candidates = self.client.messages.list(to=request.to, date_sent_after=since, limit=50)
        except (TwilioException, OSError) as error:
            raise TransportError(
                f"Twilio lookup failed: {type(error).__name__}", code="network", permanent=False
            ) from error
        for candidate in candidates:
            if candidate.body == request.body:
                return candidate.sid
        return None


SMS_BACKENDS: dict[str, type[SmsBackend]] = {
    "console": ConsoleSmsBackend,
    "locmem": LocmemSmsBackend,
    "twilio": TwilioSmsBackend,
}


_per_thread = threading.local()


def sms_backend() -> SmsBackend:
    """The backend ``SMS_BACKEND`` names. Twilio's is made once per thread (and again
    when its settings change): its client keeps one keep-alive HTTP session, so a
    worker reuses its connection to Twilio from one text to the next instead of
    opening one per text; per thread, because a requests session and the client's
    last answer (``retry_after``) are not to be shared between threads."""
    backend_class = SMS_BACKENDS[settings.SMS_BACKEND]
    if backend_class is not TwilioSmsBackend:
        return backend_class()
    key = (
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE,
        settings.TWILIO_TIMEOUT_SECONDS,
    )
    kept = getattr(_per_thread, "twilio", None)
    if kept is None or kept[0] != key:
        kept = _per_thread.twilio = (key, TwilioSmsBackend())
    return kept[1]
