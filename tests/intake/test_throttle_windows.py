"""The intake's limits: sliding-window counters, several in one Redis round trip."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from intake.throttles import Limit, limit_then_incr, limits_hit


@pytest.fixture(params=["configured", "locmem"])
def backend(request, settings):
    if request.param == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    return request.param


@pytest.fixture
def rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "lead_submit_ip": "2/minute",
            "lead_submit_phone": "1/hour",
        },
    }


def test_a_limit_allows_its_rate_then_refuses_with_a_wait(backend, rates):
    start = 1_800_000_000.0  # the start of a minute
    ip = Limit("lead_submit_ip", "198.51.100.7")

    allowed = [limits_hit([ip], now=start + n)[0].allowed for n in range(3)]

    assert allowed == [True, True, False]
    refused = limits_hit([ip], now=start + 10)[0]
    assert not refused.allowed and 1 <= refused.wait <= 60


def test_the_last_window_still_counts_for_as_much_as_it_overlaps(backend, rates):
    start = 1_800_000_000.0
    ip = Limit("lead_submit_ip", "198.51.100.8")
    for n in range(2):
        limits_hit([ip], now=start + n)

    # Early in the next minute the last one's two hits still weigh almost fully.
    assert limits_hit([ip], now=start + 61)[0].allowed is False
    # Two minutes on, they are forgotten.
    assert limits_hit([ip], now=start + 125)[0].allowed is True


def test_limits_are_counted_apart_and_answered_in_order(backend, rates):
    start = 1_800_000_000.0
    ip, phone = Limit("lead_submit_ip", "198.51.100.9"), Limit("lead_submit_phone", "+12025550143")

    first = limits_hit([ip, phone], now=start)
    second = limits_hit([ip, phone], now=start + 1)

    assert [v.allowed for v in first] == [True, True]
    assert [v.allowed for v in second] == [True, False]


def test_a_scope_without_a_rate_is_not_limited(backend, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"lead_submit_ip": None},
    }
    assert all(limits_hit([Limit("lead_submit_ip", "x")])[0].allowed for _ in range(50))


def test_a_cache_outage_lets_the_request_in(settings, rates):
    settings.CACHES = {
        "default": {
            "BACKEND": "clinic.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    ip = Limit("lead_submit_ip", "198.51.100.10")

    assert all(limits_hit([ip])[0].allowed for _ in range(5))


def test_a_beacon_is_counted_only_within_its_limit(backend, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "cta_event_ip": "2/minute",
        },
    }
    start = 1_800_000_000.0
    ip = Limit("cta_event_ip", "198.51.100.11")

    verdicts = [
        limit_then_incr(ip, counter="beacon-test", counter_ttl=60, now=start + n) for n in range(3)
    ]

    assert [v.allowed for v in verdicts] == [True, True, False]
    assert cache.get("beacon-test") == 2
