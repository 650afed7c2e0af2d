"""One SMS send rate for every worker: a token bucket in Redis, with priorities.

The bucket refills at ``SMS_MAX_PER_SECOND`` tokens a second; a text takes one token
before it goes to the provider. Priorities (:data:`PRIORITY`): confirmations, then
replies, then reminders, then the rest. Each step down leaves a reserve in the bucket
(``SMS_PACER_RESERVE_SECONDS`` of refill per step) that only the priorities above it
may take, and a confirmation may take the last token: however many reminders wait,
they drain the bucket only down to the replies' reserve, so a confirmation finds a
token at once or within a fraction of a second. The bucket holds one second of
tokens above the lowest reserve, so each priority can still burst when alone.

A text that gets no token is not held in its worker: the answer says when to come
back (``retry_in``). Refused texts of one priority are given slots one token apart
behind those already refused (at this priority or above), so a backlog comes back
at the rate it can be sent instead of all at once.

On Redis (the cache's server) the bucket is one Lua script, atomic across every
worker on every machine, timed by Redis's clock. With another cache (development,
tests without Redis) or while Redis is unreachable, the same bucket lives in the
process, under a lock: the limit then holds per process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from notifications.models import Message

logger = logging.getLogger(__name__)

CONFIRMATION, REPLY, REMINDER, OTHER = 0, 1, 2, 3
LEVELS = 4
# A staff member's phone code is awaited on a screen, like an answer: with the replies.
PRIORITY = {
    Message.Purpose.CONFIRMATION: CONFIRMATION,
    Message.Purpose.REPLY: REPLY,
    Message.Purpose.STAFF_CODE: REPLY,
    Message.Purpose.REMINDER: REMINDER,
}
KEY = "sms-pacer"
# Idle longer than this, the bucket is full again and its slots are past: forget it.
KEY_TTL_SECONDS = 3600
# The soonest a refused text is told to come back.
MIN_RETRY_SECONDS = 0.05
# After Redis failed, the process's own bucket serves this long before Redis is tried
# again (each failed try costs the client's timeouts and retries).
REDIS_DOWN_SECONDS = 5.0


def message_priority(purpose: str) -> int:
    return PRIORITY.get(purpose, OTHER)


@dataclass(frozen=True)
class Grant:
    """``granted`` of the tokens asked for; the first refused one may come back in
    ``retry_in`` seconds, each next one ``spacing`` seconds after it."""

    granted: int
    retry_in: float = 0.0
    spacing: float = 0.0


@dataclass(frozen=True)
class Bucket:
    rate: float
    reserve_step: float

    @property
    def capacity(self) -> float:
        return self.rate + self.reserve_step * (LEVELS - 1)

    @classmethod
    def from_settings(cls) -> Bucket:
        rate = float(settings.SMS_MAX_PER_SECOND)
        return cls(rate=rate, reserve_step=rate * settings.SMS_PACER_RESERVE_SECONDS)


# KEYS[1]: the bucket (a hash: tokens, at, and slot0..slot3, the next free slot of
# each priority). ARGV: rate, reserve step, capacity, priority, count, now ("" for
# Redis's clock), ttl, the soonest retry. Returns {granted, retry_in, spacing} as
# strings (a Lua number returned to Redis would lose its fraction).
_TAKE = """
local rate = tonumber(ARGV[1])
local step = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local priority = tonumber(ARGV[4])
local count = tonumber(ARGV[5])
local now = tonumber(ARGV[6])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'slot0', 'slot1', 'slot2', 'slot3')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now < at then
  -- a clock that went back (a test's, or a host's): start counting from now
  at = now
  state = {state[1], state[2]}
end
tokens = math.min(capacity, tokens + (now - at) * rate)
at = now
local reserve = step * priority
local granted = math.floor(tokens - reserve + 1e-6)
if granted < 0 then granted = 0 end
if granted > count then granted = count end
tokens = tokens - granted
local retry_in = 0
local spacing = 0
if granted < count then
  local refused = count - granted
  spacing = 1 / rate
  local slot = now + math.max((reserve + 1 - tokens) / rate, tonumber(ARGV[8]))
  for level = 0, priority do
    local taken = tonumber(state[3 + level]) or 0
    if taken > slot then slot = taken end
  end
  redis.call('HSET', KEYS[1], 'slot' .. priority, slot + refused * spacing)
  retry_in = slot - now
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
return {tostring(granted), tostring(retry_in), tostring(spacing)}
"""


class LocalPacer:
    """The bucket of :data:`_TAKE`, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._at = 0.0
        self._slots = [0.0] * LEVELS

    def take(self, bucket: Bucket, *, priority: int, count: int, now: float) -> Grant:
        with self._lock:
            if self._tokens is None or now < self._at:  # new, or the clock went back
                self._tokens = bucket.capacity if self._tokens is None else self._tokens
                self._at = now
                self._slots = [0.0] * LEVELS
            tokens = min(bucket.capacity, self._tokens + (now - self._at) * bucket.rate)
            self._at = now
            reserve = bucket.reserve_step * priority
            granted = max(0, min(count, math.floor(tokens - reserve + 1e-6)))
            self._tokens = tokens - granted
            if granted == count:
                return Grant(granted=granted)
            spacing = 1 / bucket.rate
            slot = now + max((reserve + 1 - self._tokens) / bucket.rate, MIN_RETRY_SECONDS)
            slot = max(slot, *self._slots[: priority + 1])
            self._slots[priority] = slot + (count - granted) * spacing
            return Grant(granted=granted, retry_in=slot - now, spacing=spacing)


class SmsPacer:
    """Takes tokens from the shared bucket: in Redis through ``client`` when there is
    one, else (or while Redis fails) from ``fallback`` in this process."""

    def __init__(self, *, client: Any = None, key: str = KEY) -> None:
        self.client = client
        self.key = key
        self.fallback = LocalPacer()
        self._script = client.register_script(_TAKE) if client is not None else None
        self._redis_down_until = 0.0

    def take(
        self,
        *,
        priority: int,
        count: int = 1,
        now: float | None = None,
        bucket: Bucket | None = None,
    ) -> Grant:
        """Take up to ``count`` tokens at ``priority``; ``now`` (seconds, tests) stands
        in for the clock: Redis's own, or this process's."""
        bucket = bucket or Bucket.from_settings()
        if count <= 0:
            return Grant(granted=0)
        if self._script is not None and time.monotonic() >= self._redis_down_until:
            try:
                granted, retry_in, spacing = self._script(
                    keys=[self.key],
                    args=[
                        repr(bucket.rate),
                        repr(bucket.reserve_step),
                        repr(bucket.capacity),
                        priority,
                        count,
                        "" if now is None else repr(now),
                        KEY_TTL_SECONDS,
                        repr(MIN_RETRY_SECONDS),
                    ],
                )
                return Grant(
                    granted=int(float(granted)), retry_in=float(retry_in), spacing=float(spacing)
                )
            except (RedisError, OSError) as error:
                logger.warning("sms_pacer.unavailable", extra={"error": type(error).__name__})
                self._redis_down_until = time.monotonic() + REDIS_DOWN_SECONDS
        return self.fallback.take(
            bucket, priority=priority, count=count, now=time.time() if now is None else now
        )


_pacer: SmsPacer | None = None
_pacer_lock = threading.Lock()


def _cache_redis_client() -> Any:
    """The cache's Redis client (``clinic.cache``), or None for another cache."""
    backend = getattr(cache, "_cache", None)
    return backend.get_client(write=True) if hasattr(backend, "get_client") else None


def sms_pacer() -> SmsPacer:
    """The pacer every thread of this process shares: Django gives each thread its own
    cache object, but one ``redis.Redis`` (and its connection pool) serves them all."""
    global _pacer
    with _pacer_lock:
        if _pacer is None:
            client = _cache_redis_client()
            _pacer = SmsPacer(client=client, key=cache.make_key(KEY) if client else KEY)
        return _pacer
