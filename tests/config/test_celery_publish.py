"""Publishing a task: kombu's Redis channel keeps one client for its puts, and
``clinic.workers.enqueue`` publishes the message Celery would, without declaring the
queue per message (issue 24)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection, pools
from kombu.utils.collections import eqhash

from clinic import workers
from config.celery import RedisChannel
from config.celery import app as celery_app

TASK = "scheduling.tasks.submission_process"


def _forget_pools() -> None:
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def memory_broker() -> Iterator[Connection]:
    """The app publishes, for real (not eagerly), to an in-memory broker."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager, celery_app._pool)
    saved_producers = celery_app.amqp._producer_pool
    conf.broker_url, conf.task_always_eager = "memory://", False
    _forget_pools()
    try:
        with Connection("memory://") as connection:
            yield connection
    finally:
        # Closed and out of kombu's process-wide registries, so that no later publish
        # is handed a closed pool (as tests/e2e/conftest.py does).
        key = eqhash(celery_app.connection_for_write())
        for group in (pools.producers, pools.connections):
            pool = dict.pop(group, key, None)
            if pool is not None:
                pool.force_close_all()
        conf.broker_url, conf.task_always_eager = saved[0], saved[1]
        celery_app._pool, celery_app.amqp._producer_pool = saved[2], saved_producers


def _take(connection: Connection, queue: str):
    message = connection.SimpleQueue(queue, no_ack=True).get(timeout=2)
    return message.headers, message.properties, message.delivery_info, message.decode()


def test_enqueue_publishes_the_message_celery_builds(memory_broker):
    assert workers.enqueue(TASK, 42) is True
    headers, properties, delivery, body = _take(memory_broker, "scheduling")
    celery_app.tasks[TASK].apply_async((43,))
    own_headers, own_properties, own_delivery, own_body = _take(memory_broker, "scheduling")

    assert body[0] == [42] and own_body[0] == [43]
    assert headers["task"] == TASK
    assert headers["argsrepr"] == "(42,)" and own_headers["argsrepr"] == "(43,)"
    assert headers["kwargsrepr"] == own_headers["kwargsrepr"] == "{}"
    per_message = {"id", "root_id", "argsrepr", "published_at"}
    assert {k: v for k, v in headers.items() if k not in per_message} == {
        k: v for k, v in own_headers.items() if k not in per_message
    }
    assert delivery["routing_key"] == own_delivery["routing_key"] == "scheduling"
    assert properties["delivery_mode"] == own_properties["delivery_mode"]


def test_enqueue_with_an_eta_still_publishes(memory_broker):
    from django.utils import timezone

    assert workers.enqueue(TASK, 7, eta=timezone.now()) is True
    headers, _, _, body = _take(memory_broker, "scheduling")
    assert body[0] == [7] and headers["eta"] is not None


@pytest.fixture
def redis_channel() -> Iterator[RedisChannel]:
    url = os.environ.get("REDIS_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("REDIS_URL is not set")
        pytest.skip("needs Redis (REDIS_URL)")
    prefix = f"test-publish-{uuid.uuid4().hex}-"
    with Connection(url, transport_options={"global_keyprefix": prefix}) as connection:
        channel = connection.default_channel
        assert isinstance(channel, RedisChannel)
        try:
            yield channel
        finally:
            with channel.conn_or_acquire() as client:
                client.delete("queue-a")


def test_the_redis_channel_reuses_one_client_for_its_puts(redis_channel):
    with redis_channel.conn_or_acquire() as first, redis_channel.conn_or_acquire() as second:
        assert first is second
    for number in range(3):
        redis_channel._put("queue-a", {"body": str(number), "properties": {}})

    assert redis_channel._size("queue-a") == 3


def test_a_new_pool_gets_a_new_client(redis_channel):
    with redis_channel.conn_or_acquire() as before:
        pass
    redis_channel._disconnect_pools()

    with redis_channel.conn_or_acquire() as after:
        assert after is not before
        assert after.connection_pool is redis_channel.pool


def test_a_given_client_is_used_as_it_is(redis_channel):
    with redis_channel.conn_or_acquire() as own:
        pass
    given = object()
    with redis_channel.conn_or_acquire(given) as client:
        assert client is given
    with redis_channel.conn_or_acquire() as again:
        assert again is own
