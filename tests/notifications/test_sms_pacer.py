"""The shared SMS pacer (notifications/pacer.py): rate, priorities, no starvation.

Each test runs against a real Redis (the cache's, from ``REDIS_URL``: the script
every worker runs) and against the in-process bucket used without Redis; the clock is the ``now``
handed to each take, so no test waits."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from notifications.pacer import (
    CONFIRMATION,
    KEY,
    OTHER,
    REMINDER,
    REPLY,
    Bucket,
    SmsPacer,
    _cache_redis_client,
    message_priority,
)

# 10 texts a second, a quarter second of it reserved per step: 17.5 tokens when full.
BUCKET = Bucket(rate=10, reserve_step=2.5)
T0 = 1_800_000_000.0


@pytest.fixture(params=["redis", "local"])
def pacer(request) -> Iterator[SmsPacer]:
    if request.param == "local":
        yield SmsPacer(client=None)
        return
    client = redis_client()
    key = f"test:{KEY}:{uuid.uuid4().hex}"
    yield SmsPacer(client=client, key=key)
    client.delete(key)


def redis_client():
    client = _cache_redis_client()
    if client is None:
        pytest.skip("the cache is not Redis (REDIS_URL is not set)")
    return client


def take(pacer: SmsPacer, priority: int, count: int, at: float) -> int:
    return pacer.take(priority=priority, count=count, now=T0 + at, bucket=BUCKET).granted


def test_a_full_bucket_gives_its_burst_then_the_rate(pacer):
    assert take(pacer, CONFIRMATION, 100, 0) == 17
    assert take(pacer, CONFIRMATION, 100, 0) == 0
    assert take(pacer, CONFIRMATION, 100, 1) == 10  # 0.5 left + one second's 10
    # Asked every 10 ms for 10 seconds: the rate, nothing more.
    granted = sum(take(pacer, CONFIRMATION, 1, 1 + step / 100) for step in range(1, 1001))
    assert granted == 100


def test_each_priority_leaves_its_reserve_to_those_above(pacer):
    assert take(pacer, OTHER, 100, 0) == 10  # down to 7.5: three steps of reserve
    assert take(pacer, REMINDER, 100, 0) == 2  # down to 5.5
    assert take(pacer, REPLY, 100, 0) == 3  # down to 2.5
    assert take(pacer, OTHER, 1, 0) == 0
    assert take(pacer, REMINDER, 1, 0) == 0
    assert take(pacer, REPLY, 1, 0) == 0
    assert take(pacer, CONFIRMATION, 100, 0) == 2  # a confirmation takes the last ones


def test_a_flood_of_lower_priorities_never_holds_a_confirmation_back(pacer):
    """Replies, reminders and the rest ask for 5 tokens every 10 ms for 5 s (far more
    than the rate); a confirmation every 200 ms gets its token at once, every time."""
    confirmations, got = 0, {REPLY: 0, REMINDER: 0, OTHER: 0}
    for step in range(500):
        at = step / 100
        for priority in (OTHER, REMINDER, REPLY):
            got[priority] += take(pacer, priority, 5, at)
        if step % 20 == 0:
            assert take(pacer, CONFIRMATION, 1, at) == 1, f"confirmation refused at {at:.2f} s"
            confirmations += 1
    assert confirmations == 25
    # The rest of the rate went to the replies, first in line after confirmations.
    assert got[REPLY] >= 10 * 5 - 25 - 2
    assert got[REMINDER] + got[OTHER] <= 12  # their share of the full bucket, at the start


def test_confirmations_beyond_the_rate_take_it_all(pacer):
    take(pacer, CONFIRMATION, 17, 0)  # a burst of confirmations emptied the bucket
    got = {CONFIRMATION: 0, REPLY: 0}
    for step in range(1, 501):
        at = step / 100
        got[CONFIRMATION] += take(pacer, CONFIRMATION, 5, at)
        got[REPLY] += take(pacer, REPLY, 5, at)
    assert got[REPLY] == 0
    assert got[CONFIRMATION] == 50


def test_refused_texts_are_given_slots_one_token_apart(pacer):
    take(pacer, CONFIRMATION, 17, 0)  # 0.5 left
    first = pacer.take(priority=CONFIRMATION, count=4, now=T0, bucket=BUCKET)
    second = pacer.take(priority=CONFIRMATION, count=1, now=T0, bucket=BUCKET)

    assert first.granted == 0
    assert first.retry_in == pytest.approx(0.05, abs=1e-3)  # the half token missing
    assert first.spacing == pytest.approx(0.1)
    assert second.retry_in == pytest.approx(0.05 + 4 * 0.1, abs=1e-3)  # behind the four


def test_a_confirmation_is_not_queued_behind_waiting_reminders(pacer):
    take(pacer, CONFIRMATION, 17, 0)
    reminders = pacer.take(priority=REMINDER, count=200, now=T0, bucket=BUCKET)
    confirmation = pacer.take(priority=CONFIRMATION, count=1, now=T0, bucket=BUCKET)
    reminder = pacer.take(priority=REMINDER, count=1, now=T0, bucket=BUCKET)

    assert reminders.retry_in == pytest.approx(0.55, abs=1e-3)  # 5 of reserve + 1 - 0.5
    assert confirmation.retry_in == pytest.approx(0.05, abs=1e-3)
    assert reminder.retry_in == pytest.approx(0.55 + 200 * 0.1, abs=1e-3)


def test_workers_sharing_the_bucket_never_take_more_than_it_holds():
    # Eight workers, each with its own connection to the cache's Redis.
    shared = redis_client().connection_pool.connection_kwargs
    where = {name: shared[name] for name in ("host", "port", "db", "password") if name in shared}
    key = f"test:{KEY}:{uuid.uuid4().hex}"
    workers = [SmsPacer(client=redis.Redis(**where), key=key) for _ in range(8)]
    start = threading.Barrier(len(workers))
    granted = []

    def work(pacer: SmsPacer) -> None:
        start.wait()
        granted.append(sum(take(pacer, CONFIRMATION, 1, 0) for _ in range(20)))

    threads = [threading.Thread(target=work, args=(pacer,)) for pacer in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    workers[0].client.delete(key)

    assert sum(granted) == 17


def test_without_redis_the_pacer_still_limits_in_the_process():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = redis.Redis(port=port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    pacer = SmsPacer(client=unreachable)

    assert take(pacer, CONFIRMATION, 100, 0) == 17
    assert take(pacer, CONFIRMATION, 100, 0.5) == 5


def test_purposes_map_to_priorities():
    assert message_priority("confirmation") == CONFIRMATION
    assert message_priority("reply") == REPLY
    assert message_priority("staff_code") == REPLY
    assert message_priority("reminder") == REMINDER
    assert message_priority("follow_up") == OTHER
    assert message_priority("staff_alert") == OTHER
