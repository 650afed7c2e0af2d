"""The insider attack on report rows (intake.reports): someone who can read the reports
and send submissions makes up a campaign (or an article), pads it with four people of
their own, sends the link to one person, and reads the report to learn whether a fifth
came: the victim.

With rows decided on exact counts the answer is certain (four people: no row, five: a
row; "<5" in "(other)" against a number). Here a row exists, and a count shows as a
number, only when its perturbed count (the cell key method) clears REPORT_MIN_CELL, so
under some secret record keys four people make a row and under others five make none.
Each test replays the attack under many record keys (the salt comes from SECRET_KEY;
the nightly rebuild recomputes every key sum) and compares what the attacker reads
before and after the victim came."""

from __future__ import annotations

import pytest

from intake.models import Article, Submission
from intake.record_keys import record_key
from intake.report_disclosure import perturbation
from intake.services.rollup_rebuild import funnel_rollups_rebuild
from tests.factories import ArticleFactory, submit_lead

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/articles/"
SEEDS = 40  # record keys tried; four people make a row under about 2 in 5 of them
PADDING = 4
CAMPAIGN = "spring-offer-7f3a"  # made up by the attacker: no one else has it
MADE_UP_ARTICLE = "spring-offer-7f3a"


@pytest.fixture(autouse=True)
def _reports(settings):
    settings.REPORT_NOISE = 2
    settings.REPORT_MIN_CELL = 5
    settings.REPORT_KNOWN_SOURCES = []
    settings.REPORT_KNOWN_MEDIUMS = []
    settings.REPORT_KNOWN_CAMPAIGNS = []
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood")
    ArticleFactory(slug=MADE_UP_ARTICLE, title="Spring offer", needs_review=True)
    for _ in range(6):  # the clinic's ordinary readers, so the total is no small count
        submit_lead(article_slug="sleep-and-mood")


def _noisy(count: int, lead_ids: list[int]) -> int:
    """What the cell key method makes of these people's count, worked out from their
    record keys: the attacker's unknown."""
    return count + perturbation(sum(record_key("lead", pk) for pk in lead_ids), 2)


def _what_the_attacker_reads(api_client, settings, *, group: str, label: str, people) -> list:
    """Per record key: (the padded row's leads or None without a row, the fold's leads,
    the noisy count of the padded cell)."""
    lead_ids = list(
        Submission.objects.filter(pk__in=[p.pk for p in people]).values_list("lead_id", flat=True)
    )
    fold = "(other)" if group != "article" else "(unknown)"
    seen = []
    for seed in range(SEEDS):
        settings.SECRET_KEY = f"record-key-seed-{seed}"
        funnel_rollups_rebuild()
        rows = {row["label"]: row for row in api_client.get(URL, {"group": group}).json()["rows"]}
        padded, folded = rows.get(label), rows.get(fold)
        seen.append(
            (
                padded["leads"] if padded else None,
                folded["leads"] if folded else None,
                _noisy(len(lead_ids), lead_ids),
            )
        )
    return seen


def _attack(api_client, settings, *, group: str, label: str, **where) -> tuple[list, list]:
    pads = [submit_lead(**where) for _ in range(PADDING)]
    before = _what_the_attacker_reads(api_client, settings, group=group, label=label, people=pads)
    victim = submit_lead(**where)
    after = _what_the_attacker_reads(
        api_client, settings, group=group, label=label, people=[*pads, victim]
    )
    return before, after


def _assert_the_attacker_cannot_tell(before: list, after: list) -> None:
    # Four people make a row under some record keys, five make none under others: the
    # row's presence does not say whether the fifth came.
    assert any(shown is not None for shown, _fold, _noisy in before)
    assert any(shown is None for shown, _fold, _noisy in after)
    # Without a row the padded people are in the fold, which reads "<5" whether or not
    # the victim is among them.
    assert {fold for shown, fold, _noisy in before if shown is None} == {"<5"}
    assert {fold for shown, fold, _noisy in after if shown is None} == {"<5"}
    # The row exists exactly when the perturbed count clears the threshold, and then it
    # shows that perturbed count: a function of the noisy value only.
    for shown, _fold, noisy in [*before, *after]:
        assert (shown is not None) == (noisy >= 5)
        assert shown is None or shown == noisy


def test_an_insider_padding_a_made_up_campaign_with_four_people_cannot_tell_if_a_fifth_came(
    api_client, marketer, settings
):
    api_client.force_authenticate(marketer)

    before, after = _attack(
        api_client,
        settings,
        group="utm_campaign",
        label=CAMPAIGN,
        article_slug="sleep-and-mood",
        utm={"utm_campaign": CAMPAIGN},
    )

    _assert_the_attacker_cannot_tell(before, after)


def test_an_insider_padding_a_made_up_article_with_four_people_cannot_tell_if_a_fifth_came(
    api_client, marketer, settings
):
    api_client.force_authenticate(marketer)
    assert Article.objects.get(slug=MADE_UP_ARTICLE).needs_review

    before, after = _attack(
        api_client, settings, group="article", label="Spring offer", article_slug=MADE_UP_ARTICLE
    )

    _assert_the_attacker_cannot_tell(before, after)


def test_an_insider_reading_a_configured_campaign_cannot_tell_if_a_fifth_came(
    api_client, marketer, settings
):
    # A configured value is a row however few came; its count is what could tell.
    settings.REPORT_KNOWN_CAMPAIGNS = [CAMPAIGN]
    api_client.force_authenticate(marketer)

    before, after = _attack(
        api_client,
        settings,
        group="utm_campaign",
        label=CAMPAIGN,
        article_slug="sleep-and-mood",
        utm={"utm_campaign": CAMPAIGN},
    )

    assert all(shown is not None for shown, _fold, _noisy in [*before, *after])
    assert any(isinstance(shown, int) for shown, _fold, _noisy in before)
    assert "<5" in {shown for shown, _fold, _noisy in after}
    for shown, _fold, noisy in [*before, *after]:
        assert shown == (noisy if noisy >= 5 else "<5")
