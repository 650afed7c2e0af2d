"""Throttles of the public API, on the shared cache (Redis in production).

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, read per request.
Keys hold a keyed hash, never a phone number or an IP.

The intake's throttles (per IP, per network, per phone, per address) are checked
together by :func:`limits_hit`: sliding-window counters (this window's count plus
the last one's, weighted by how much of it still overlaps), so several limits cost
one Redis round trip instead of a read and a write each. DRF's throttle classes
below remain for the other public endpoints and for ``client_ip``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from clinic.cache import UNAVAILABLE
from clinic.crypto import mailbox_canonical
from clinic.proxies import client_address


def _keyed_hash(value: str) -> str:
    """A throttle key that does not put a phone number or an IP in the cache."""
    digest = hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


class _RateFromSettings(SimpleRateThrottle):
    """DRF reads throttle rates once, at import; these read them per request, so
    settings (and tests' overrides) take effect at once."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class LeadSubmitPhoneThrottle(_RateFromSettings):
    """Submissions per phone number, whatever the IP (SMS pumping, harassment)."""

    scope = "lead_submit_phone"

    def __init__(self, *, phone: str) -> None:
        super().__init__()
        self.phone = phone

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": _keyed_hash(self.phone)}


class LeadSubmitEmailThrottle(LeadSubmitPhoneThrottle):
    """Submissions per email address, whatever the IP (mail bombing, harassment)."""

    scope = "lead_submit_email"

    def __init__(self, *, email: str) -> None:
        super().__init__(phone=email)


class _HashedIpThrottle(_RateFromSettings):
    """Per client IP (behind ``TRUSTED_PROXIES``), keyed by a hash of it."""

    def get_ident(self, request: Any) -> str:
        return client_address(request) or ""

    def get_cache_key(self, request: Any, view: Any) -> str:
        ident = _keyed_hash(self.get_ident(request) or "")
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LeadSubmitIpThrottle(_HashedIpThrottle):
    scope = "lead_submit_ip"


class LeadSubmitSubnetThrottle(_HashedIpThrottle):
    """Per network (/24 of IPv4, /56 of IPv6): one host rotating its addresses."""

    scope = "lead_submit_subnet"

    def get_ident(self, request: Any) -> str:
        return subnet_of(super().get_ident(request) or "")


class CtaEventIpThrottle(_HashedIpThrottle):
    scope = "cta_event_ip"


class CtaConfigIpThrottle(_HashedIpThrottle):
    scope = "cta_config_ip"


def client_ip(request: HttpRequest | Request) -> str | None:
    """The client's address, behind ``TRUSTED_PROXIES`` (``clinic.proxies``)."""
    return client_address(request)


# --- Pipelined sliding-window limits (the intake) ------------------------------------

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """One limit to check: a rate scope and who it counts (hashed before storing)."""

    scope: str
    ident: str


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: Seconds until the window moves on enough to allow a request (0 when allowed).
    wait: float


@dataclass(frozen=True)
class _Window:
    """Where one limit stands at a moment: its rate and the keys of this window's
    and the last window's counters."""

    count: int
    period: int
    #: How far into the window the moment is: 0 at its start, 1 at its end.
    elapsed: float
    current: str
    previous: str

    def verdict(self, current: int, previous: int) -> Verdict:
        if previous * (1 - self.elapsed) + current <= self.count:
            return Verdict(allowed=True, wait=0)
        return Verdict(allowed=False, wait=max(1.0, (1 - self.elapsed) * self.period))


def _window(limit: Limit, now: float) -> _Window | None:
    """None when the scope has no rate (not limited)."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(limit.scope)
    if not rate:
        return None
    # DRF's own parser of "5/hour" (it does not use the instance).
    count, period = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
    window = math.floor(now / period)
    base = f"throttle:{limit.scope}:{_keyed_hash(limit.ident)}"
    return _Window(
        count=count,
        period=period,
        elapsed=now / period - window,
        current=f"{base}:{window}",
        previous=f"{base}:{window - 1}",
    )


def counter_incr(key: str, *, ttl: int) -> int:
    """Add one to a cache counter, creating it with ``ttl`` on its first hit; the count."""
    try:
        return cache.incr(key)
    except ValueError:  # the first hit
        if cache.add(key, 1, timeout=ttl):
            return 1
        return cache.incr(key)


def _redis_client() -> Any:
    backend = getattr(cache, "_cache", None)
    return backend.get_client(write=True) if hasattr(backend, "get_client") else None


def limits_hit(limits: list[Limit], *, now: float | None = None) -> list[Verdict]:
    """Count one request against each limit and say, per limit, whether it is within
    its rate. Every hit counts, also one past the limit (a client that keeps sending
    while throttled stays throttled). Redis: one pipelined round trip for them all;
    if Redis is down the request is let in (fail open: a lead must not be lost to a
    cache outage)."""
    now = time.time() if now is None else now
    windows = [_window(limit, now) for limit in limits]
    live = [window for window in windows if window is not None]
    found = iter(_counts_hit(live) if live else [])
    return [
        Verdict(allowed=True, wait=0) if window is None else window.verdict(*next(found))
        for window in windows
    ]


def limits_unhit(limits: list[Limit], *, now: float) -> None:
    """Take back the hits :func:`limits_hit` counted at ``now`` (a replayed request,
    found to be one only when it was stored). Best effort: fails silently."""
    keys = [window.current for limit in limits if (window := _window(limit, now)) is not None]
    if not keys:
        return
    client = _redis_client()
    try:
        if client is not None:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.decr(cache.make_key(key))
            pipe.execute()
        else:
            for key in keys:
                with contextlib.suppress(ValueError):
                    cache.decr(key)
    except (*UNAVAILABLE, RedisError) as error:
        logger.warning("throttle.unavailable", extra={"error": type(error).__name__})


def _counts_hit(windows: list[_Window]) -> list[tuple[int, int]]:
    """(this window's count after the hit, the last window's count) per window."""
    client = _redis_client()
    try:
        if client is not None:
            pipe = client.pipeline(transaction=False)
            for window in windows:
                pipe.incr(cache.make_key(window.current))
                pipe.expire(cache.make_key(window.current), 2 * window.period)
                pipe.get(cache.make_key(window.previous))
            answers = pipe.execute()
            return [
                (int(answers[3 * i]), int(answers[3 * i + 2] or 0)) for i in range(len(windows))
            ]
        # Another cache backend (tests, development): the same counters, call by call.
        counts = []
        for window in windows:
            current = counter_incr(window.current, ttl=2 * window.period)
            counts.append((current, cache.get(window.previous, 0)))
        return counts
    except (*UNAVAILABLE, RedisError) as error:
        logger.warning("throttle.unavailable", extra={"error": type(error).__name__})
        return [(0, 0) for _ in windows]


# One round trip for a beacon: count the request against its limit and, if within it,
# add one to the event counter (an int, as Django's Redis cache stores ints).
_LIMIT_THEN_INCR = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * (1 - tonumber(ARGV[3])) + hits > tonumber(ARGV[1]) then return -1 end
if KEYS[3] ~= '' then
  local count = redis.call('INCR', KEYS[3])
  if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
end
return hits
"""
_scripts: dict[int, Any] = {}


def limit_then_incr(
    limit: Limit, *, counter: str | None, counter_ttl: int, now: float | None = None
) -> Verdict:
    """Count a request against ``limit`` and, when it is within it, add one to the
    cache counter ``counter`` (created with ``counter_ttl``): on Redis one scripted
    round trip. Fails open like :func:`limits_hit`, without counting."""
    client = _redis_client()
    now = time.time() if now is None else now
    window = _window(limit, now)
    if client is None or window is None:
        (verdict,) = limits_hit([limit], now=now)
        if verdict.allowed and counter:
            counter_incr(counter, ttl=counter_ttl)
        return verdict
    keys = [
        cache.make_key(window.current),
        cache.make_key(window.previous),
        cache.make_key(counter) if counter else "",
    ]
    try:
        script = _scripts.get(id(client))
        if script is None:
            script = _scripts[id(client)] = client.register_script(_LIMIT_THEN_INCR)
        hits = script(
            keys=keys,
            args=[window.count, 2 * window.period, f"{window.elapsed:.6f}", counter_ttl],
        )
    except (*UNAVAILABLE, RedisError) as error:
        logger.warning("throttle.unavailable", extra={"error": type(error).__name__})
        return Verdict(allowed=True, wait=0)
    if int(hits) < 0:
        return Verdict(allowed=False, wait=max(1.0, (1 - window.elapsed) * window.period))
    return Verdict(allowed=True, wait=0)


def subnet_of(address: str) -> str:
    """The network an address is in: /24 for IPv4, /56 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 56
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def request_limits(request: HttpRequest | Request) -> list[Limit]:
    """The per-IP and per-network limits of one intake request."""
    address = client_ip(request) or ""
    return [Limit("lead_submit_ip", address), Limit("lead_submit_subnet", subnet_of(address))]


def contact_limits(*, phone: str, email: str) -> list[Limit]:
    """The per-phone and per-mailbox limits (past them: stored, answered, not sent).
    An address counts as its mailbox, so a respelling is not a fresh allowance."""
    limits = []
    if phone:
        limits.append(Limit("lead_submit_phone", phone))
    if email:
        limits.append(Limit("lead_submit_email", mailbox_canonical(email)))
    return limits
