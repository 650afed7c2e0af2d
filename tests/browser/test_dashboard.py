"""Marketing's dashboard in Chromium: the charts are drawn, with data, and the page
holds no personal data."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from intake.models import Lead
from intake.services import lead_stage_advance
from tests.factories import ArticleFactory, UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def marketer():
    user = UserFactory(username="morgan")
    user.groups.add(Group.objects.get_or_create(name="marketing")[0])
    return user


def test_marketing_sees_the_funnel_and_trend_drawn_with_data_and_no_one(
    open_page, live_server, marketer
):
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", topic="depression")
    people = [
        submit_lead(
            article_slug="sleep-and-mood",
            first_name="Jordana",
            message="Please call after work",
        )
        for _ in range(6)
    ]
    for submission in people:
        lead_stage_advance(lead_id=submission.lead_id, stage=Lead.Stage.CONTACTED)
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": 1366, "height": 900})

    page.goto(f"{live_server.url}/reports/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/reports/")

    funnel = page.locator('svg[data-chart="funnel"]')
    assert funnel.is_visible()
    bars = funnel.locator("rect.bar")
    assert bars.count() == 9
    values = dict(
        zip(
            [label.text_content() for label in funnel.locator("text[text-anchor='end']").all()],
            [bar.get_attribute("data-value") for bar in bars.all()],
            strict=True,
        )
    )
    # Six people, perturbed by at most REPORT_NOISE (2) and never below 5; the same
    # people (all contacted) give the same number in every bar and chart.
    leads = values["Leads"]
    assert 5 <= int(leads) <= 8 and values["Contacted"] == leads
    leads_bar = funnel.locator(f'rect.bar[data-value="{leads}"]').first.bounding_box()
    assert leads_bar is not None and leads_bar["width"] > 50  # drawn, not just present

    trend = page.locator('svg[data-chart="trend"]')
    points = trend.locator('g[data-series="leads"] circle')
    assert points.count() >= 1
    assert leads in [point.get_attribute("data-value") for point in points.all()]
    assert trend.locator("circle").first.bounding_box()["width"] > 0

    # The table sorts by a column when its heading is clicked.
    page.get_by_role("button", name="Leads", exact=True).click()
    assert page.locator("th[aria-sort]").count() == 1
    assert page.get_by_role("row", name="Sleep and mood").is_visible()

    html = page.content()
    for secret in [
        "Jordana",
        "Please call after work",
        *(str(s.phone) for s in people),
        *(s.email for s in people),
        *(s.reference for s in people),
    ]:
        assert secret not in html
    assert log.foreign() == []
