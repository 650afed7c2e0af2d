from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from intake.models import ArticleDailyCount
from intake.services import cta_event_counts_flush
from intake.services.events import clinic_day
from intake.tasks import cta_event_counts_flush as flush_task
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def beacon(api_client, *, article="depression-101", type="article_view", ua=BROWSER, **extra):
    return api_client.post(
        URL, {"article": article, "type": type}, format="json", HTTP_USER_AGENT=ua, **extra
    )


def counts() -> dict[tuple[str, str], int]:
    return {
        (row.article.slug, row.type): row.count
        for row in ArticleDailyCount.objects.select_related("article")
    }


def test_a_beacon_is_answered_204_without_a_cookie(api_client):
    response = beacon(api_client)

    assert response.status_code == 204
    assert response.content == b""
    assert not response.cookies
    assert "Set-Cookie" not in response


def test_events_are_counted_per_article_type_and_day(api_client):
    ArticleFactory(slug="depression-101")
    ArticleFactory(slug="anxiety-basics")
    for _ in range(3):
        beacon(api_client)
    beacon(api_client, type="cta_view")
    beacon(api_client, article="anxiety-basics", type="form_start")

    assert ArticleDailyCount.objects.count() == 0  # counted in the cache until the flush
    assert flush_task() == 5

    assert counts() == {
        ("depression-101", "article_view"): 3,
        ("depression-101", "cta_view"): 1,
        ("anxiety-basics", "form_start"): 1,
    }
    assert set(ArticleDailyCount.objects.values_list("day", flat=True)) == {clinic_day()}


def test_a_second_flush_adds_only_what_came_since(api_client):
    ArticleFactory(slug="depression-101")
    beacon(api_client)
    cta_event_counts_flush()
    assert cta_event_counts_flush() == 0

    beacon(api_client)
    beacon(api_client)
    cta_event_counts_flush()

    assert counts() == {("depression-101", "article_view"): 3}


def test_the_day_is_the_clinics_day(api_client, settings):
    ArticleFactory(slug="depression-101")
    # 02:30 UTC on 3 March is still 2 March in New York.
    moment = datetime(2026, 3, 3, 2, 30, tzinfo=ZoneInfo("UTC"))
    with time_machine.travel(moment, tick=False):
        beacon(api_client)
        cta_event_counts_flush()

    assert ArticleDailyCount.objects.get().day.isoformat() == "2026-03-02"


def test_counts_from_just_before_midnight_are_flushed_the_next_day(api_client):
    ArticleFactory(slug="depression-101")
    late = datetime(2026, 3, 2, 23, 59, tzinfo=ZoneInfo("America/New_York"))
    with time_machine.travel(late, tick=False):
        beacon(api_client)
    with time_machine.travel(late + timedelta(minutes=2), tick=False):
        cta_event_counts_flush()

    row = ArticleDailyCount.objects.get()
    assert (row.day.isoformat(), row.count) == ("2026-03-02", 1)


@pytest.mark.parametrize(
    "ua",
    [
        "",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36",
        "python-requests/2.32",
        "curl/8.5.0",
    ],
)
def test_obvious_bots_are_answered_but_not_counted(api_client, ua):
    ArticleFactory(slug="depression-101")

    response = beacon(api_client, ua=ua)

    assert response.status_code == 204
    assert cta_event_counts_flush() == 0
    assert ArticleDailyCount.objects.count() == 0


def test_unknown_articles_are_not_created_by_beacons(api_client):
    from intake.models import Article

    beacon(api_client, article="no-such-article")
    cta_event_counts_flush()

    assert not Article.objects.filter(slug="no-such-article").exists()
    assert ArticleDailyCount.objects.count() == 0


def test_a_beacon_sent_as_text_plain_is_accepted(api_client):
    ArticleFactory(slug="depression-101")

    response = api_client.post(
        URL,
        json.dumps({"article": "depression-101", "type": "cta_view"}),
        content_type="text/plain;charset=UTF-8",
        HTTP_USER_AGENT=BROWSER,
    )

    assert response.status_code == 204
    cta_event_counts_flush()
    assert counts() == {("depression-101", "cta_view"): 1}


@pytest.mark.parametrize(
    "body",
    [
        {"article": "depression-101", "type": "purchase"},
        {"article": "../../etc", "type": "article_view"},
        {"type": "article_view"},
    ],
)
def test_a_bad_event_gets_400_in_the_one_error_shape(api_client, body):
    response = api_client.post(URL, body, format="json", HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["fields"]


def test_beacons_are_throttled_per_ip(api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "cta_event_ip": "2/minute",
        },
    }
    assert beacon(api_client).status_code == 204
    assert beacon(api_client).status_code == 204

    response = beacon(api_client)

    assert response.status_code == 429
    assert "Retry-After" in response


def test_no_ip_is_kept_even_in_the_throttle(api_client, cache_keys):
    beacon(api_client, REMOTE_ADDR="198.51.100.77")

    assert any("cta_event_ip" in key for key in cache_keys())
    assert not any("198.51.100.77" in key for key in cache_keys())


def test_the_flush_runs_once_at_a_time(api_client):
    from django.core.cache import cache

    ArticleFactory(slug="depression-101")
    beacon(api_client)
    cache.add("intake:cta-events:flush-lock", 1)

    assert cta_event_counts_flush() == 0
    cache.delete("intake:cta-events:flush-lock")
    assert cta_event_counts_flush() == 1


def test_the_flush_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["flush-cta-event-counts"]
    assert entry["task"] == "intake.tasks.cta_event_counts_flush"
    assert entry["schedule"] <= timedelta(minutes=5)


# --- form_abandon: the field last touched, as a name only ----------------------------


def abandon(api_client, *, field="email", article="depression-101", ua=BROWSER):
    body = {"article": article, "type": "form_abandon", "field": field}
    return api_client.post(URL, json.dumps(body), content_type="text/plain", HTTP_USER_AGENT=ua)


def field_counts() -> dict[tuple[str, str, str], int]:
    return {
        (row.article.slug, row.type, row.field): row.count
        for row in ArticleDailyCount.objects.select_related("article")
    }


def test_abandoned_forms_are_counted_per_field_last_touched(api_client, cache_keys):
    ArticleFactory(slug="depression-101")
    for _ in range(2):
        assert abandon(api_client, field="email").status_code == 204
    assert abandon(api_client, field="message").status_code == 204
    beacon(api_client, type="form_start")
    # The counter's key names the field (and the scripted limit-and-count kept it one call).
    assert any(key.endswith(":form_abandon:depression-101:email") for key in cache_keys())

    assert cta_event_counts_flush() == 4

    assert field_counts() == {
        ("depression-101", "form_abandon", "email"): 2,
        ("depression-101", "form_abandon", "message"): 1,
        ("depression-101", "form_start", ""): 1,
    }
    abandon(api_client, field="email")
    cta_event_counts_flush()
    assert field_counts()[("depression-101", "form_abandon", "email")] == 3


def test_an_abandoned_form_from_a_bot_is_answered_but_not_counted(api_client):
    ArticleFactory(slug="depression-101")

    assert abandon(api_client, ua="HeadlessChrome/131.0").status_code == 204

    assert cta_event_counts_flush() == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"type": "form_abandon"}, "Required"),
        ({"type": "form_abandon", "field": ""}, ""),
        ({"type": "form_abandon", "field": "website"}, "valid choice"),
        ({"type": "form_abandon", "field": "maria@example.com"}, "valid choice"),
        ({"type": "form_start", "field": "email"}, "Only form_abandon"),
        ({"type": "article_view", "field": ""}, ""),
    ],
)
def test_a_field_is_required_with_form_abandon_refused_otherwise_and_only_a_known_name(
    api_client, body, error
):
    ArticleFactory(slug="depression-101")

    response = api_client.post(
        URL, {"article": "depression-101", **body}, format="json", HTTP_USER_AGENT=BROWSER
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert error in " ".join(response.json()["fields"]["field"])
    assert cta_event_counts_flush() == 0


def test_the_event_schema_documents_the_field_as_optional_with_its_names():
    from drf_spectacular.generators import SchemaGenerator

    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    event = schemas["CtaEventInputRequest"]
    assert event["required"] == ["article", "type"]  # old beacons stay valid
    (ref,) = event["properties"]["field"]["allOf"]
    assert "email" in schemas[ref["$ref"].split("/")[-1]]["enum"]
    assert "form_abandon" in event["properties"]["field"]["description"]
