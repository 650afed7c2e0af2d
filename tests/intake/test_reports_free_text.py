"""Report rows are never keyed by free text a submitter chose (intake.reports): a UTM
value is its own row only when it is configured or at least REPORT_MIN_CELL people
came with it; everything else is "(other)", and rows without an article "(unknown)"."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.factories import ArticleFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/articles/"
SLUG = "sleep-and-mood"
EMAIL = "jane.roe@example.net"
UTM_GROUPS = ("utm_source", "utm_medium", "utm_campaign")


@pytest.fixture(autouse=True)
def _reports(settings):
    settings.REPORT_NOISE = 0  # exact counts, so the tests can name them
    settings.REPORT_MIN_CELL = 5
    settings.REPORT_KNOWN_SOURCES = []
    settings.REPORT_KNOWN_MEDIUMS = []
    settings.REPORT_KNOWN_CAMPAIGNS = []
    ArticleFactory(slug=SLUG, title="Sleep and mood", topic="depression")


def _leads(count: int, *, slug: str = SLUG, **utm):
    return [submit_lead(article_slug=slug, utm=utm) for _ in range(count)]


def _everything_marketing_reads(api_client, client, marketer, group: str) -> list[str]:
    api_client.force_authenticate(marketer)
    verified_login(client, marketer)
    texts = []
    for attribution in ("first", "last"):
        params = {"group": group, "attribution": attribution}
        texts.append(json.dumps(api_client.get(URL, params).json()))
        texts.append(api_client.get(URL, {**params, "format": "csv"}).content.decode())
        page = client.get("/reports/", params)
        assert page.status_code == 200
        texts.append(page.content.decode())
    return texts


def _rows(api_client, group: str, **params) -> dict[str, dict]:
    body = api_client.get(URL, {"group": group, **params}).json()
    return {row["label"]: row for row in body["rows"]} | {"Total": body["total"]}


@pytest.mark.parametrize("group", UTM_GROUPS)
def test_an_email_address_as_a_utm_value_of_one_person_never_shows(
    api_client, client, marketer, group
):
    _leads(6, **{group: "newsletter"})
    _leads(1, **{group: EMAIL})

    for text in _everything_marketing_reads(api_client, client, marketer, group):
        assert EMAIL not in text
        assert "jane.roe" not in text

    rows = _rows(api_client, group)
    assert set(rows) == {"newsletter", "(other)", "Total"}
    assert rows["(other)"]["key"] == "(other)"
    assert rows["(other)"]["leads"] == "<5"
    # The total counts everyone; with a small "(other)" shown beside it, the next
    # smallest count is withheld so that the total minus the rest gives nothing away.
    assert rows["Total"]["leads"] == 7
    assert rows["newsletter"]["leads"] == "hidden"


def test_one_person_submitting_five_times_is_not_five_people(api_client, marketer):
    first = submit_lead(article_slug=SLUG, utm={"utm_campaign": EMAIL})
    for _ in range(4):
        submit_lead(
            article_slug=SLUG, phone=first.phone, email=first.email, utm={"utm_campaign": EMAIL}
        )
    api_client.force_authenticate(marketer)

    body = api_client.get(URL, {"group": "utm_campaign"}).json()

    assert EMAIL not in json.dumps(body)
    [row] = body["rows"]
    assert (row["label"], row["submissions"], row["leads"]) == ("(other)", 5, "<5")


def test_a_value_five_people_came_with_is_its_own_row(api_client, marketer):
    _leads(5, utm_campaign="spring-sale")
    _leads(2, utm_campaign="someone-typed-this")
    api_client.force_authenticate(marketer)

    rows = _rows(api_client, "utm_campaign")

    assert set(rows) == {"spring-sale", "(other)", "Total"}
    assert rows["spring-sale"]["key"] == "spring-sale"
    assert rows["(other)"]["leads"] == "<5"


@pytest.mark.parametrize(
    ("group", "setting"),
    [
        ("utm_source", "REPORT_KNOWN_SOURCES"),
        ("utm_medium", "REPORT_KNOWN_MEDIUMS"),
        ("utm_campaign", "REPORT_KNOWN_CAMPAIGNS"),
    ],
)
def test_a_configured_value_is_its_own_row_however_few_came_with_it(
    api_client, marketer, settings, group, setting
):
    setattr(settings, setting, ["fall-mailing"])
    _leads(1, **{group: "fall-mailing"})
    _leads(6, **{group: "winter"})
    api_client.force_authenticate(marketer)

    rows = _rows(api_client, group)

    # Its label is the clinic's own; its count is suppressed like any small one.
    assert rows["fall-mailing"]["leads"] == "<5"
    assert rows["fall-mailing"]["rates"]["contact_rate"] is None
    assert rows["winter"]["leads"] == "hidden"
    assert "(other)" not in rows


def test_no_utm_value_stays_none_and_a_value_named_like_a_fold_is_folded(api_client, marketer):
    _leads(5)
    _leads(5, utm_campaign="(other)")
    _leads(1, utm_campaign="x")
    api_client.force_authenticate(marketer)

    body = api_client.get(URL, {"group": "utm_campaign"}).json()

    assert [(row["key"], row["label"], row["leads"]) for row in body["rows"]] == [
        ("", "(none)", 5),
        ("(other)", "(other)", 6),
    ]


def test_the_threshold_follows_the_setting(api_client, marketer, settings):
    settings.REPORT_MIN_CELL = 3
    _leads(3, utm_campaign="spring")
    _leads(2, utm_campaign="summer")
    api_client.force_authenticate(marketer)

    assert set(_rows(api_client, "utm_campaign")) == {"spring", "(other)", "Total"}


def test_rows_without_an_article_show_as_unknown(api_client, marketer):
    _leads(6)
    _leads(5, slug="")
    api_client.force_authenticate(marketer)

    for group in ("article", "topic"):
        labels = {row["label"] for row in api_client.get(URL, {"group": group}).json()["rows"]}
        assert "(unknown)" in labels
        assert "(none)" not in labels


def test_an_article_a_submission_made_up_is_unknown_until_five_people_use_it(
    api_client, client, marketer
):
    ArticleFactory(slug="call-jane-roe-555-0100", title="Call jane roe 555 0100", needs_review=True)
    ArticleFactory(slug="forgotten-page", title="Forgotten page", needs_review=True)
    _leads(6)
    _leads(1, slug="call-jane-roe-555-0100")
    _leads(5, slug="forgotten-page")

    for text in _everything_marketing_reads(api_client, client, marketer, "article"):
        assert "jane-roe" not in text and "jane roe" not in text
    rows = _rows(api_client, "article")
    assert set(rows) == {"Sleep and mood", "Forgotten page", "(unknown)", "Total"}
    assert rows["(unknown)"]["leads"] == "<5"
    assert rows["Total"]["leads"] == 12


def test_the_csv_has_the_folded_rows(api_client, marketer):
    _leads(6, utm_campaign="spring")
    _leads(1, utm_campaign=EMAIL)
    api_client.force_authenticate(marketer)

    response = api_client.get(URL, {"group": "utm_campaign", "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["Key"], row["Leads"], row["Leads suppressed"]) for row in rows] == [
        ("spring", "", "withheld"),
        ("(other)", "", "fewer than 5"),
        ("", "7", ""),
    ]


def test_with_noise_a_small_fold_is_still_a_row_and_the_total_stays_near(
    api_client, marketer, settings
):
    settings.REPORT_NOISE = 2
    _leads(9, utm_campaign="spring")
    _leads(2, utm_campaign=EMAIL)
    api_client.force_authenticate(marketer)

    rows = _rows(api_client, "utm_campaign")

    assert set(rows) == {"spring", "(other)", "Total"}
    assert rows["(other)"]["leads"] == "<5"
    assert 7 <= rows["spring"]["leads"] <= 11
    assert 9 <= rows["Total"]["leads"] <= 13
