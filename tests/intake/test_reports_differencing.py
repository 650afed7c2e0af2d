"""Counts of people in the reports resist differencing (intake.reports, the cell key
method): two overlapping reports cannot be subtracted to recover a count of 1 to 4,
while the same people always give the same number."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from intake.models import Lead
from intake.services import lead_stage_advance
from intake.services.rollups import clinic_date
from tests.factories import ArticleFactory, submit_lead

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/articles/"
UTC = ZoneInfo("UTC")
# Monday 2 March 2026 (week one), Monday 9 March (week two, same month), at 15:00 UTC:
# the same day in the clinic's zone.
WEEK_ONE = datetime(2026, 3, 2, 15, tzinfo=UTC)
WEEK_TWO = datetime(2026, 3, 9, 15, tzinfo=UTC)
ARTICLES = 40  # ten for each small count from 1 to 4
BASE = 8  # never "<5", whatever the noise (8 - 2 >= 5): the attacker subtracts numbers


@pytest.fixture
def noisy(settings):
    settings.REPORT_NOISE = 2
    settings.REPORT_MIN_CELL = 5


def _report(api_client, **params) -> dict:
    response = api_client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def _by_article(body: dict, field: str) -> dict[str, object]:
    return {row["key"]: row[field] for row in body["rows"]}


@pytest.fixture
def small_counts_a_week_apart():
    """In each article, BASE people on the Monday of week one and 1 to 4 more on the
    Monday of week two; the small count is what an attacker is after."""
    truth: dict[str, int] = {}
    for index in range(ARTICLES):
        slug = f"article-{index}"
        ArticleFactory(slug=slug, title=f"Article {index}")
        with time_machine.travel(WEEK_ONE, tick=False):
            for _ in range(BASE):
                submit_lead(article_slug=slug)
        truth[slug] = 1 + index % 4
        with time_machine.travel(WEEK_TWO, tick=False):
            for _ in range(truth[slug]):
                submit_lead(article_slug=slug)
    return truth


def _attack(api_client, wide: dict, narrow: dict, field: str = "leads") -> dict[str, object]:
    """The attacker's guess per article: the wider report minus the narrower one."""
    more = _by_article(_report(api_client, **wide), field)
    less = _by_article(_report(api_client, **narrow), field)
    return {slug: more[slug] - less[slug] for slug in more}


def _recovered(guesses: dict[str, object], truth: dict[str, int]) -> int:
    return sum(guesses[slug] == count for slug, count in truth.items())


def test_a_range_one_day_longer_does_not_give_away_that_days_small_count(
    api_client, marketer, noisy, settings, small_counts_a_week_apart
):
    truth = small_counts_a_week_apart
    api_client.force_authenticate(marketer)
    day_one, day_two = clinic_date(WEEK_ONE), clinic_date(WEEK_TWO)
    wide = {"date_from": day_one, "date_to": day_two}
    narrow = {"date_from": day_one, "date_to": day_two.replace(day=day_two.day - 1)}

    guesses = _attack(api_client, wide, narrow)

    # Right by chance about one time in four (two independent noises agreeing), and
    # the guesses for different true counts overlap: nothing tells which are right.
    assert _recovered(guesses, truth) <= ARTICLES // 2
    by_truth = defaultdict(set)
    for slug, count in truth.items():
        by_truth[count].add(guesses[slug])
    assert by_truth[1] & by_truth[2] and by_truth[2] & by_truth[3] and by_truth[3] & by_truth[4]
    assert all(abs(guesses[slug] - count) <= 4 for slug, count in truth.items())

    # Without the noise the same subtraction gives every small count away: this is
    # what the test guards against.
    settings.REPORT_NOISE = 0
    assert _recovered(_attack(api_client, wide, narrow), truth) == ARTICLES


def test_a_month_against_its_first_week_does_not_give_away_the_rest(
    api_client, marketer, noisy, small_counts_a_week_apart
):
    truth = small_counts_a_week_apart
    api_client.force_authenticate(marketer)
    month = {"date_from": "2026-03-01", "date_to": "2026-03-31"}
    week_one = {"date_from": "2026-03-02", "date_to": "2026-03-08"}

    guesses = _attack(api_client, month, week_one)

    assert _recovered(guesses, truth) <= ARTICLES // 2
    # And the weekly breakdown of one article against its monthly one, likewise.
    wrong = 0
    for slug, count in list(truth.items())[:8]:
        weeks = _report(api_client, group="week", article=slug, **month)["rows"]
        months = _report(api_client, group="month", article=slug, **month)["rows"]
        big_week = next(row["leads"] for row in weeks if row["key"] == "2026-03-02")
        wrong += months[0]["leads"] - big_week != count
    assert wrong >= 2


def test_first_against_last_touch_does_not_give_away_who_came_back(api_client, marketer, noisy):
    truth = {}
    for index in range(ARTICLES):
        first, second = f"first-{index}", f"second-{index}"
        ArticleFactory(slug=first)
        ArticleFactory(slug=second)
        with time_machine.travel(WEEK_ONE, tick=False):
            people = [submit_lead(article_slug=first) for _ in range(BASE + 1 + index % 4)]
        truth[first] = 1 + index % 4
        with time_machine.travel(WEEK_TWO, tick=False):
            for submission in people[: truth[first]]:  # they come back from another article
                submit_lead(article_slug=second, phone=submission.phone, email=submission.email)
    api_client.force_authenticate(marketer)
    span = {"date_from": "2026-03-01", "date_to": "2026-03-31"}

    guesses = _attack(
        api_client,
        {**span, "attribution": "first"},
        {**span, "attribution": "last"},
        field="submissions",
    )

    assert _recovered({slug: guesses[slug] for slug in truth}, truth) <= ARTICLES // 2


def test_the_same_people_give_the_same_numbers_in_every_report(api_client, marketer, noisy):
    ArticleFactory(slug="sleep", topic="sleep")
    ArticleFactory(slug="mood", topic="mood")
    for slug, count in (("sleep", 9), ("mood", 7)):
        with time_machine.travel(WEEK_ONE, tick=False):
            for _ in range(count):
                submission = submit_lead(article_slug=slug)
                lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
    api_client.force_authenticate(marketer)
    span = {"date_from": "2026-02-20", "date_to": "2026-03-20"}

    totals = {
        (group, attribution): _report(api_client, group=group, attribution=attribution, **span)[
            "total"
        ]["leads"]
        for group in ("article", "topic", "week", "month", "source")
        for attribution in ("first", "last")
    }
    again = _report(api_client, **span)

    assert len(set(totals.values())) == 1  # 16 people, one published number
    assert again["total"]["leads"] == totals[("article", "first")]
    # Everyone was contacted: the same people, the same number, a rate of exactly 1.
    row = _by_article(again, "leads")
    contacted = _by_article(again, "contacted")
    assert row == contacted
    assert all(r["rates"]["contact_rate"] == 1.0 for r in again["rows"])


def test_perturbed_counts_stay_near_the_truth_and_never_below_the_threshold(
    api_client, marketer, noisy, small_counts_a_week_apart
):
    truth = small_counts_a_week_apart
    api_client.force_authenticate(marketer)

    body = _report(api_client, date_from="2026-03-01", date_to="2026-03-31")

    for slug, small in truth.items():
        shown = _by_article(body, "leads")[slug]
        assert max(5, BASE + small - 2) <= shown <= BASE + small + 2
    assert abs(body["total"]["leads"] - sum(BASE + small for small in truth.values())) <= 2
    # Whether a small count shows as "<5" is decided on its perturbed value: 1 and 2
    # always are, 3 and 4 are "<5" or their perturbed value, never a number below 5.
    week_two = _by_article(
        _report(api_client, date_from="2026-03-09", date_to="2026-03-09"), "leads"
    )
    for slug, small in truth.items():
        shown = week_two[slug]
        if small <= 2:
            assert shown == "<5"
        else:
            assert shown == "<5" or 5 <= shown <= small + 2
    assert "<5" in {week_two[slug] for slug, small in truth.items() if small > 2}
    assert body["noise"] == 2


def test_a_funnel_kept_monotone_gives_away_no_small_count_a_day_longer_either(
    api_client, marketer, noisy
):
    # Each stage shows at least the stage after it (intake.report_funnel): the leads,
    # contacted and booked here are maxima of several noisy counts, and subtracting two
    # reports still finds no small count.
    truth: dict[str, int] = {}
    for index in range(ARTICLES // 2):
        slug = f"deep-{index}"
        ArticleFactory(slug=slug)
        with time_machine.travel(WEEK_ONE, tick=False):
            for _ in range(BASE):
                submission = submit_lead(article_slug=slug)
                lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
        truth[slug] = 1 + index % 4
        with time_machine.travel(WEEK_TWO, tick=False):
            for person in range(truth[slug]):
                submission = submit_lead(article_slug=slug)
                stage = Lead.Stage.CONSULT_BOOKED if person % 2 else Lead.Stage.CONTACTED
                lead_stage_advance(lead_id=submission.lead_id, stage=stage)
    api_client.force_authenticate(marketer)
    day_one, day_two = clinic_date(WEEK_ONE), clinic_date(WEEK_TWO)
    wide = {"date_from": day_one, "date_to": day_two}
    narrow = {"date_from": day_one, "date_to": day_two.replace(day=day_two.day - 1)}

    for field in ("submissions", "leads", "contacted"):
        guesses = _attack(api_client, wide, narrow, field=field)
        assert _recovered(guesses, truth) <= len(truth) // 2, field
        assert all(abs(guesses[slug] - count) <= 4 for slug, count in truth.items()), field
