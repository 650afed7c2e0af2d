"""Where readers leave the form: form_abandon counts per article and field last
touched, in the report API and on the dashboard, small counts suppressed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from intake.models import ArticleDailyCount, CtaEventType
from intake.reports import form_abandonment_report
from intake.services import funnel_event_counts_sync
from intake.services.events import clinic_day
from tests.factories import ArticleFactory, UserFactory
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/articles/"


def _left(article, field: str, count: int, *, days_ago: int = 0) -> None:
    ArticleDailyCount.objects.create(
        article=article,
        day=clinic_day() - timedelta(days=days_ago),
        type=CtaEventType.FORM_ABANDON,
        field=field,
        count=count,
    )


@pytest.fixture
def articles():
    sleep = ArticleFactory(slug="sleep-and-mood", title="Sleep and mood")
    grief = ArticleFactory(slug="grief-at-work", title="Grief at work")
    _left(sleep, "email", 4, days_ago=1)
    _left(sleep, "email", 3)  # 7 over the two days
    _left(sleep, "message", 2)
    _left(grief, "phone", 3)  # all of grief's counts are small: the row goes
    return sleep, grief


def test_the_report_counts_abandoned_forms_per_article_and_field(api_client, marketer, articles):
    api_client.force_authenticate(marketer)

    body = api_client.get(URL).json()["form_abandonment"]

    assert body["fields"] == [
        {"name": "email", "label": "Email"},
        {"name": "message", "label": "Message"},
    ]
    assert body["rows"] == [
        {
            "key": "sleep-and-mood",
            "label": "Sleep and mood",
            "counts": {"email": 7, "message": "<5"},
        }
    ]


def test_counts_below_the_threshold_are_suppressed_and_all_small_articles_dropped(
    articles, settings
):
    today = clinic_day()
    settings.REPORT_MIN_CELL = 8

    report = form_abandonment_report(date_from=today - timedelta(days=5), date_to=today)

    assert report["rows"] == []  # 7 < 8: nothing is shown, not even which field
    assert report["fields"] == []

    settings.REPORT_MIN_CELL = 3
    report = form_abandonment_report(date_from=today, date_to=today)
    assert [(row["key"], row["counts"]) for row in report["rows"]] == [
        ("grief-at-work", {"email": 0, "message": 0, "phone": 3}),
        ("sleep-and-mood", {"email": 3, "message": "<3", "phone": 0}),
    ]


def test_the_report_follows_the_range_and_the_article_filter(api_client, marketer, articles):
    other = ArticleFactory(slug="panic-basics", title="Panic basics")
    _left(other, "first_name", 9, days_ago=40)
    api_client.force_authenticate(marketer)
    today = clinic_day().isoformat()

    one_day = api_client.get(URL, {"date_from": today, "date_to": today}).json()
    only_panic = api_client.get(URL, {"article": "panic-basics"}).json()

    assert one_day["form_abandonment"]["rows"] == []  # sleep: 3 and 2 today, both small
    assert only_panic["form_abandonment"]["rows"] == [
        {"key": "panic-basics", "label": "Panic basics", "counts": {"first_name": 9}}
    ]


def test_other_event_types_and_the_existing_rows_are_unchanged(api_client, marketer, articles):
    sleep, _grief = articles
    ArticleDailyCount.objects.create(
        article=sleep, day=clinic_day(), type=CtaEventType.FORM_START, count=50
    )
    funnel_event_counts_sync(days=[clinic_day() - timedelta(days=1), clinic_day()])
    api_client.force_authenticate(marketer)

    body = api_client.get(URL).json()
    csv_text = api_client.get(URL, {"format": "csv"}).content.decode()

    assert [row["counts"] for row in body["form_abandonment"]["rows"]] == [
        {"email": 7, "message": "<5"}
    ]
    (row,) = body["rows"]  # the funnel rows keep their shape and ignore form_abandon
    assert (row["key"], row["form_starts"], row["submissions"]) == ("sleep-and-mood", 50, 0)
    assert "counts" not in row and "form_abandonment" not in row
    assert "email" not in csv_text.splitlines()[0]  # the CSV keeps its columns


def test_the_dashboard_shows_the_abandonment_table_with_headers(client, marketer, articles):
    verified_login(client, marketer)

    page = client.get("/reports/").content.decode()

    table = page[page.index('data-table="abandonment"') :]
    table = table[: table.index("</table>")]
    assert re.findall(r'<th scope="col" data-column="([^"]+)"', table) == [
        "label",
        "email",
        "message",
    ]
    assert ">Article</button>" in table and ">Email</button>" in table
    row = table[table.index('data-key="sleep-and-mood"') :]
    row = row[: row.index("</tr>")]
    assert re.findall(r"<td[^>]*>(?:<span[^>]*>[^<]*</span>)?([^<]*)</td>", row) == ["7", "&lt;5"]
    assert 'class="suppressed"' in row
    assert "grief-at-work" not in table


def test_the_dashboard_says_so_when_there_is_nothing_to_show(client, marketer):
    verified_login(client, marketer)

    page = client.get("/reports/").content.decode()

    assert "No forms left unsent in this range" in page


def test_the_abandonment_counts_are_for_report_roles_only(api_client, articles):
    api_client.force_authenticate(UserFactory())

    assert api_client.get(URL).status_code == 403
