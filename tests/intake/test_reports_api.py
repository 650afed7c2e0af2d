"""GET /api/v1/reports/articles/ and the /reports/ dashboard: who may see them, what
they show, and what they never show."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from django.contrib.auth.models import Group

from intake.models import Article, ArticleDailyCount, CtaEventType, Lead, Submission
from intake.services import funnel_event_counts_sync, lead_stage_advance
from intake.services.events import clinic_day
from tests.factories import ArticleFactory, UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/articles/"
SLUG = "sleep-and-mood"
PERSON = {"first_name": "Marisol", "last_name": "Quintero-Vance"}


@pytest.fixture(autouse=True)
def exact_counts(settings):
    """Counts of people exact (REPORT_NOISE=0), so these tests can name them; the
    perturbation against differencing is tested in test_reports_differencing.py."""
    settings.REPORT_NOISE = 0


@pytest.fixture
def article():
    return ArticleFactory(slug=SLUG, title="Sleep and mood", topic="depression")


def _leads(count: int, *, slug: str = SLUG, stage: str | None = None, **extra):
    if slug and not Article.objects.filter(slug=slug).exists():
        # The clinic's own article (one a submission made up is folded into "(unknown)").
        ArticleFactory(slug=slug)
    submissions = []
    for _ in range(count):
        values = {"message": "I cannot sleep since the accident", **PERSON, **extra}
        submission = submit_lead(article_slug=slug, **values)
        if stage:
            lead_stage_advance(lead_id=submission.lead_id, stage=stage)
        submissions.append(submission)
    return submissions


def _events(article, *, views: int) -> None:
    ArticleDailyCount.objects.create(
        article=article, day=clinic_day(), type=CtaEventType.ARTICLE_VIEW, count=views
    )
    funnel_event_counts_sync(days=[clinic_day()])


def _row(body: dict, key: str) -> dict:
    return next(row for row in body["rows"] if row["key"] == key)


def test_marketing_sees_counts_per_article(api_client, marketer, article):
    _leads(6, stage=Lead.Stage.CONTACTED)
    _events(article, views=300)
    api_client.force_authenticate(marketer)

    body = api_client.get(URL).json()

    row = _row(body, SLUG)
    assert row["label"] == "Sleep and mood"
    assert row["article_views"] == 300
    assert row["submissions"] == 6 and row["leads"] == 6 and row["contacted"] == 6
    assert row["rates"]["contact_rate"] == 1.0
    assert row["contacted_within_target_share"] == 1.0
    assert body["total"]["leads"] == 6


def test_counts_from_one_to_four_show_as_less_than_five_and_hide_their_rates(
    api_client, marketer, article
):
    _leads(7, stage=Lead.Stage.CONTACTED)
    booked = Submission.objects.filter(article=article).values_list("lead_id", flat=True)[:3]
    for lead_id in booked:
        lead_stage_advance(lead_id=lead_id, stage=Lead.Stage.CONSULT_BOOKED)
    api_client.force_authenticate(marketer)

    row = _row(api_client.get(URL).json(), SLUG)

    assert row["leads"] == 7
    assert row["consult_booked"] == "<5"
    assert row["consult_attended"] == 0  # zero may show
    assert row["rates"]["booking_rate"] is None
    assert row["rates"]["attendance_rate"] is None
    assert row["rates"]["contact_rate"] == 1.0


def test_the_threshold_follows_the_setting(api_client, marketer, article, settings):
    settings.REPORT_MIN_CELL = 10
    _leads(7)
    api_client.force_authenticate(marketer)

    row = _row(api_client.get(URL).json(), SLUG)

    assert row["leads"] == "<10"


def test_times_to_first_contact_are_hidden_for_fewer_than_five_leads(api_client, marketer, article):
    from intake.services import submission_mark_processed

    for submission in _leads(3):
        submission_mark_processed(submission_id=submission.pk)
        lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
    api_client.force_authenticate(marketer)

    row = _row(api_client.get(URL).json(), SLUG)

    assert row["first_contact"]["system"] == {"median_seconds": None, "p90_seconds": None}
    assert row["contacted_within_target_share"] is None


def test_times_to_first_contact_are_shown_for_five_or_more(api_client, marketer, article):
    from intake.services import submission_mark_processed

    for submission in _leads(5):
        submission_mark_processed(submission_id=submission.pk)
        lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
    api_client.force_authenticate(marketer)

    row = _row(api_client.get(URL).json(), SLUG)

    assert 0 <= row["first_contact"]["system"]["median_seconds"] <= 60
    assert 0 <= row["first_contact"]["coordinators"]["p90_seconds"] <= 60


def test_csv_has_the_same_suppressed_rows(api_client, marketer, article):
    _leads(6)
    _leads(2, slug="another-article")
    api_client.force_authenticate(marketer)

    response = api_client.get(URL, {"format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_key = {row["Key"]: row for row in rows}
    # 6 is withheld too: with the total shown, it would give the small count away.
    assert (by_key[SLUG]["Leads"], by_key[SLUG]["Leads suppressed"]) == ("", "withheld")
    rare = by_key["another-article"]
    assert (rare["Leads"], rare["Leads suppressed"]) == ("", "fewer than 5")
    assert rare["Contact rate"] == ""
    assert rows[-1]["Article"] == "Total" and rows[-1]["Leads"] == "8"
    assert rows[-1]["Leads suppressed"] == ""


def test_breakdown_by_campaign_source_topic_week_and_month(api_client, marketer, article):
    _leads(5, utm={"utm_source": "newsletter", "utm_campaign": "spring"})
    _leads(5, source=Submission.Source.PHONE, first_name="")
    api_client.force_authenticate(marketer)

    def keys(group: str) -> dict:
        body = api_client.get(URL, {"group": group}).json()
        return {row["key"]: row["leads"] for row in body["rows"]}

    assert keys("utm_source") == {"": 5, "newsletter": 5}
    assert keys("utm_campaign") == {"": 5, "spring": 5}
    assert keys("source") == {"phone": 5, "web": 5}
    assert keys("topic") == {"depression": 10}
    today = clinic_day()
    assert sum(keys("week").values()) == 10
    assert keys("month") == {today.replace(day=1).isoformat(): 10}


def test_campaign_breakdowns_leave_cta_events_out(api_client, marketer, article):
    _leads(5, utm={"utm_source": "newsletter"})
    _events(article, views=50)
    api_client.force_authenticate(marketer)

    body = api_client.get(URL, {"group": "utm_source"}).json()

    assert body["rows"][0]["article_views"] is None
    assert body["rows"][0]["rates"]["cta_view_rate"] is None


def test_first_and_last_touch_credit_different_articles(api_client, marketer, article):
    ArticleFactory(slug="second-read", title="Second read")
    people = _leads(5)
    for submission in people:
        again = submit_lead(
            article_slug="second-read",
            phone=submission.phone,
            email=submission.email,
            **PERSON,
        )
        assert again.lead_id == submission.lead_id
        lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
    api_client.force_authenticate(marketer)

    first = api_client.get(URL, {"attribution": "first"}).json()
    last = api_client.get(URL, {"attribution": "last"}).json()

    assert _row(first, SLUG)["contacted"] == 5
    assert "second-read" not in [row["key"] for row in first["rows"]]
    assert _row(last, "second-read")["contacted"] == 5
    assert _row(last, SLUG)["contacted"] == 0
    assert _row(first, SLUG)["leads"] == _row(last, SLUG)["leads"] == 5


def test_spam_counts_nowhere(api_client, marketer, article):
    _leads(5)
    _leads(5, is_spam=True, phone="+12025550999", email="bot@example.org")
    api_client.force_authenticate(marketer)

    row = _row(api_client.get(URL).json(), SLUG)

    assert row["submissions"] == 5 and row["leads"] == 5


def test_one_article_and_a_date_range(api_client, marketer, article):
    _leads(5)
    _leads(5, slug="other")
    api_client.force_authenticate(marketer)
    today = clinic_day().isoformat()

    body = api_client.get(URL, {"article": SLUG, "date_from": today, "date_to": today}).json()

    assert [row["key"] for row in body["rows"]] == [SLUG]
    assert api_client.get(URL, {"date_from": "2020-01-01", "date_to": "2019-01-01"}).json()[
        "fields"
    ]["date_from"]


@pytest.mark.parametrize("role", ["marketing", "supervisor", "admin"])
def test_report_roles_may_read_the_report(api_client, role):
    user = UserFactory(username=f"{role}-reader")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    api_client.force_authenticate(user)

    assert api_client.get(URL).status_code == 200
    assert api_client.get(URL, {"format": "csv"}).status_code == 200


def test_coordinators_are_refused(api_client, client, coordinator):
    api_client.force_authenticate(coordinator)
    verified_login(client, coordinator)

    assert api_client.get(URL).status_code == 403
    assert api_client.get(URL, {"format": "csv"}).status_code == 403
    assert client.get("/reports/").status_code == 403


def test_anonymous_readers_are_refused(api_client, client):
    assert api_client.get(URL).status_code == 403
    assert client.get("/reports/").status_code == 302  # to sign in


def test_marketing_never_sees_personal_data(api_client, client, marketer, article):
    submissions = _leads(6, stage=Lead.Stage.CONTACTED, utm={"utm_campaign": "spring"})
    api_client.force_authenticate(marketer)
    verified_login(client, marketer)
    lead = submissions[0].lead
    secrets = [
        PERSON["first_name"],
        PERSON["last_name"],
        "cannot sleep",
        *(str(s.phone) for s in submissions),
        *(s.phone.as_national for s in submissions),
        *(s.email for s in submissions),
        *(s.reference for s in submissions),
    ]
    readable = []
    for group in ("article", "topic", "utm_campaign", "source", "week", "month"):
        for attribution in ("first", "last"):
            params = {"group": group, "attribution": attribution}
            readable.append(json.dumps(api_client.get(URL, params).json()))
            readable.append(api_client.get(URL, {**params, "format": "csv"}).content.decode())
            readable.append(client.get("/reports/", params).content.decode())
    for text in readable:
        for secret in secrets:
            assert secret not in text
        assert f'"lead_id": {lead.pk}' not in text and "lead_id" not in text


def test_the_dashboard_shows_charts_and_a_table(client, marketer, article):
    _leads(6, stage=Lead.Stage.CONTACTED)
    verified_login(client, marketer)

    page = client.get("/reports/").content.decode()

    assert 'data-chart="funnel"' in page and 'data-chart="trend"' in page
    assert "Sleep and mood" in page
    assert "/api/v1/reports/articles/?" in page and "format=csv" in page


def test_a_small_count_cannot_be_recovered_by_subtracting_from_the_total(
    api_client, marketer, article
):
    _leads(9)
    _leads(7, slug="another-article")
    _leads(2, slug="third-article")
    api_client.force_authenticate(marketer)

    body = api_client.get(URL).json()

    leads = {row["key"]: row["leads"] for row in body["rows"]}
    assert body["total"]["leads"] == 18
    assert leads["third-article"] == "<5"
    # The smallest shown count in the column is withheld with it, the largest stays.
    assert leads["another-article"] == "hidden"
    assert leads[SLUG] == 9
    shown = [value for value in leads.values() if isinstance(value, int)]
    assert body["total"]["leads"] - sum(shown) >= body["min_cell"]
    row = next(row for row in body["rows"] if row["key"] == "another-article")
    assert row["rates"]["contact_rate"] is None


def _days(segment):
    from datetime import timedelta

    from intake.reports import _month_end

    end = segment.end
    if segment.grain == "week":
        end += timedelta(days=6)
    elif segment.grain == "month":
        end = _month_end(end)
    return [segment.start + timedelta(days=n) for n in range((end - segment.start).days + 1)]


@pytest.mark.parametrize("coarse", ["week", "month"])
def test_a_range_is_read_from_rows_covering_each_day_once_within_one_period(coarse):
    import random
    from datetime import date, timedelta

    from intake.reports import _group_value, segments

    draw = random.Random(7)
    for _ in range(3000):
        date_from = date(2024, 1, 1) + timedelta(days=draw.randrange(800))
        date_to = date_from + timedelta(days=draw.randrange(400))
        covered = []
        for segment in segments(date_from, date_to, coarse=coarse):
            for row_start in _days(segment) if segment.grain == "day" else [segment.start]:
                days = _days(type(segment)(segment.grain, row_start, row_start))
                if segment.grain != "day":
                    row = segment.start
                    while row <= segment.end:
                        days = _days(type(segment)(segment.grain, row, row))
                        # A week row read for a monthly report lies in one month.
                        assert {_group_value(coarse, day) for day in days} == {
                            _group_value(coarse, row)
                        }
                        covered += days
                        row = days[-1] + timedelta(days=1)
                else:
                    covered += days
        assert sorted(covered) == [
            date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1)
        ]


def test_the_dashboard_table_has_the_csv_columns_and_marks_small_counts(
    client, api_client, marketer, article
):

    _leads(6)
    _leads(2, slug="rare-article")
    verified_login(client, marketer)
    api_client.force_authenticate(marketer)

    page = client.get("/reports/").content.decode()
    header = next(csv.reader(io.StringIO(api_client.get(URL, {"format": "csv"}).content.decode())))

    table = page[page.index('data-table="report"') :]
    headings = [
        html.unescape(heading)
        for heading in re.findall(
            r'<th scope="col" data-column="[^"]+"[^>]*><button[^>]*>([^<]+)<', table
        )
    ]
    assert headings[0] == "Article" and len(headings) == 29
    numbers = [
        name.removesuffix(" (seconds)") for name in header if not name.endswith(" suppressed")
    ]
    assert numbers == ["Key", *headings]
    rare = table[table.index('data-key="rare-article"') :]
    rare = rare[: rare.index("</tr>")]
    assert 'class="suppressed"' in rare and "&lt;5" in rare


@pytest.mark.parametrize("group", ["article", "utm_campaign", "week"])
def test_the_csv_has_numbers_only_in_number_columns_and_flags_what_it_leaves_out(
    api_client, marketer, article, settings, group
):
    settings.REPORT_NOISE = 2
    _leads(9, stage=Lead.Stage.CONTACTED, utm={"utm_campaign": "spring"})
    _leads(2, slug="rare-article", utm={"utm_campaign": "spring"})
    _events(article, views=3)  # "<5" among the CTA events, and one withheld beside it
    api_client.force_authenticate(marketer)

    body = api_client.get(URL, {"group": group}).json()
    text = api_client.get(URL, {"group": group, "format": "csv"}).content.decode()

    header, *lines = list(csv.reader(io.StringIO(text)))
    assert "<" not in text and "hidden" not in text
    flags = {name for name in header if name.endswith(" suppressed")}
    assert len(flags) == 13
    rows = [dict(zip(header, line, strict=True)) for line in lines]
    labels = {"leads": "Leads", "article_views": "Article views", "admitted": "Admitted"}
    for shown, line in zip([*body["rows"], body["total"]], rows, strict=True):
        for name, label in labels.items():
            value, flag = line[label], line[f"{label} suppressed"]
            if isinstance(shown[name], int):
                assert (value, flag) == (str(shown[name]), "")
            elif shown[name] is None:
                assert (value, flag) == ("", "")  # does not apply: not a suppression
            else:
                assert value == ""
                assert flag == ("withheld" if shown[name] == "hidden" else "fewer than 5")
        for name in header:
            if name not in flags and name not in ("Key", header[1]) and line[name]:
                float(line[name])  # a number, nothing else
    if group == "article":
        rare = next(line for line in rows if line["Key"] == "rare-article")
        assert rare["Leads suppressed"] == "fewer than 5"
        assert {line["Article views suppressed"] for line in rows} >= {"fewer than 5"}
