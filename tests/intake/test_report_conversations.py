"""Time to first conversation in the marketing report: per article only, aggregates
only, small cells suppressed, never a coordinator's name or one person's wait."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from intake.models import Lead
from intake.services import lead_conversation_record
from tests.factories import ArticleFactory, UserFactory, submit_lead

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/articles/"
SLUG = "sleep-and-mood"
OTHER = "anxiety-at-night"


@pytest.fixture(autouse=True)
def exact_counts(settings):
    """Counts of people exact (REPORT_NOISE=0) unless a test says otherwise."""
    settings.REPORT_NOISE = 0
    settings.REPORT_MIN_CELL = 5


@pytest.fixture
def zelda():
    return UserFactory(username="coordinator-zelda", first_name="Zelda", last_name="Okonkwo")


def talked(slug: str, waits: list[int], *, by, silent: int = 0) -> None:
    """Leads from ``slug``'s form, each first spoken to ``wait`` seconds after asking,
    and ``silent`` more nobody has spoken to yet."""
    ArticleFactory(slug=slug, title=slug.replace("-", " ").title())
    for wait in waits:
        submission = submit_lead(article_slug=slug)
        lead_conversation_record(
            lead_id=submission.lead_id,
            at=submission.created_at + timedelta(seconds=wait),
            via=Lead.ConversationVia.CALL,
            by_id=by.pk,
        )
    for _ in range(silent):
        submit_lead(article_slug=slug)


def row_for(body: dict, key: str) -> dict:
    return next(row for row in body["rows"] if row["key"] == key)


def test_an_article_shows_its_conversations_median_and_p90(api_client, marketer, zelda):
    talked(SLUG, [60, 120, 180, 240, 300, 360], by=zelda, silent=2)
    api_client.force_authenticate(marketer)

    body = api_client.get(URL).json()

    assert row_for(body, SLUG)["first_conversation"] == {
        "conversations": 6,
        "median_seconds": 210,
        "p90_seconds": 330,  # percentile_cont: 300 + 0.5 * 60
    }
    assert body["total"]["first_conversation"]["conversations"] == 6


def test_an_article_with_few_conversations_is_suppressed_with_no_times(api_client, marketer, zelda):
    talked(SLUG, [60, 120, 180, 240, 300], by=zelda)
    talked(OTHER, [45, 4000], by=zelda, silent=4)
    api_client.force_authenticate(marketer)

    body = api_client.get(URL).json()

    assert row_for(body, OTHER)["first_conversation"] == {
        "conversations": "<5",
        "median_seconds": None,
        "p90_seconds": None,
    }
    assert row_for(body, SLUG)["first_conversation"]["conversations"] == 5
    # Exact counts: the total minus the shown row would give the small one away.
    assert body["total"]["first_conversation"] == {
        "conversations": "hidden",
        "median_seconds": None,
        "p90_seconds": None,
    }


def test_with_noise_one_or_two_conversations_never_show_as_a_number(
    api_client, marketer, zelda, settings
):
    settings.REPORT_NOISE = 2
    talked(SLUG, [30, 4000], by=zelda, silent=6)
    api_client.force_authenticate(marketer)

    row = row_for(api_client.get(URL).json(), SLUG)

    assert row["first_conversation"] == {
        "conversations": "<5",
        "median_seconds": None,
        "p90_seconds": None,
    }


def test_marketing_never_sees_who_had_the_conversation(api_client, marketer, zelda):
    talked(SLUG, [60, 120, 180, 240, 300, 360], by=zelda)
    api_client.force_authenticate(marketer)

    as_json = api_client.get(URL).content.decode()
    as_csv = api_client.get(URL, {"format": "csv"}).content.decode()

    for text in (as_json, as_csv):
        assert "zelda" not in text.lower()
        assert "okonkwo" not in text.lower()
    row = row_for(json.loads(as_json), SLUG)
    assert set(row["first_conversation"]) == {"conversations", "median_seconds", "p90_seconds"}


def test_the_csv_has_the_conversation_columns_with_suppression_flags(api_client, marketer, zelda):
    talked(SLUG, [60, 120, 180, 240, 300, 360], by=zelda)
    talked(OTHER, [90], by=zelda, silent=5)
    api_client.force_authenticate(marketer)

    lines = list(csv.reader(io.StringIO(api_client.get(URL, {"format": "csv"}).content.decode())))

    header = lines[0]
    rows = {line[0]: dict(zip(header, line, strict=True)) for line in lines[1:]}
    assert rows[SLUG]["Conversations"] == "6"
    assert rows[SLUG]["First conversation, median (seconds)"] == "210"
    assert rows[SLUG]["First conversation, 90th pct. (seconds)"] == "330"
    assert rows[OTHER]["Conversations"] == ""
    assert rows[OTHER]["Conversations suppressed"] == "fewer than 5"
    assert rows[OTHER]["First conversation, median (seconds)"] == ""


def test_conversations_are_per_article_only(api_client, marketer, zelda):
    talked(SLUG, [60, 120, 180, 240, 300, 360], by=zelda)
    api_client.force_authenticate(marketer)

    body = api_client.get(URL, {"group": "week"}).json()

    assert all(row["first_conversation"] is None for row in body["rows"])
    assert body["total"]["first_conversation"] is None


def test_leads_outside_the_range_do_not_count(api_client, marketer, zelda):
    talked(SLUG, [60, 120, 180, 240, 300, 360], by=zelda)
    api_client.force_authenticate(marketer)
    tomorrow = (Lead.objects.first().created_at + timedelta(days=2)).date()

    body = api_client.get(URL, {"date_from": tomorrow, "date_to": tomorrow}).json()

    assert body["total"]["first_conversation"]["conversations"] == 0


def test_the_development_default_computes_the_same_figures_as_postgresql(zelda):
    from intake import report_conversations

    talked(SLUG, [60, 120, 180, 240, 300, 360], by=zelda, silent=1)
    talked(OTHER, [45, 4000], by=zelda)
    day = Lead.objects.first().created_at.date()
    since, until = report_conversations._bounds(day - timedelta(days=1), day + timedelta(days=1))

    in_sql = report_conversations.article_conversations(
        date_from=day - timedelta(days=1), date_to=day + timedelta(days=1)
    )

    assert in_sql == report_conversations._python(since, until, None)
    assert in_sql[report_conversations.TOTAL].conversations == 8
