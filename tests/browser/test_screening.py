"""In Chromium at 390 px: the holder fills in the screening on the callback page, by
label, and a PHQ-9 self-harm answer above 0 brings up the crisis banner at once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from intake.instruments import GAD7, INSTRUMENTS, PHQ9
from intake.models import Screening
from scheduling.models import Callback
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401 (a fixture)
from tests.browser.test_console import sign_in
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def coordinator():
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    return user


def test_a_coordinator_fills_in_the_screening_on_a_phone_sized_screen(
    axe_page,  # noqa: F811
    live_server,
    coordinator,
    settings,
):
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.STAFF_ALERT_EMAILS = []
    callback = Callback.objects.get(submission=submit_lead(first_name="Robin", message="Evenings"))
    page = axe_page(390, 844)
    sign_in(page, live_server, coordinator)
    page.get_by_role("button", name="Next callback").click()
    page.wait_for_url(f"{live_server.url}/console/callbacks/{callback.pk}/")
    assert page.locator(".crisis-banner").count() == 0
    assert serious_violations(page) == []

    page.get_by_label("Presenting concern").select_option("depression")
    chosen = {PHQ9: [1, 2, 1, 2, 1, 2, 1, 2, 1], GAD7: [2, 2, 2, 1, 1, 1, 1]}
    for instrument, answers in chosen.items():
        for number, (question, answer) in enumerate(
            zip(INSTRUMENTS[instrument].questions, answers, strict=True), start=1
        ):
            group = page.get_by_role("group", name=f"{number}. {question}")
            group.get_by_label(_label(answer)).check()
    page.get_by_label("Recommended level of care").select_option("intensive-outpatient")
    # Nothing on the page is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Record the screening").click()
    page.wait_for_url(f"{live_server.url}/console/callbacks/{callback.pk}/")

    banner = page.locator(".crisis-banner")
    assert banner.is_visible()
    assert "PHQ-9 question 9" in banner.inner_text()
    assert page.get_by_text("Screening recorded.").is_visible()
    results = page.locator("ul.screenings").inner_text()
    assert "13 · Moderate" in results and "10 · Moderate" in results
    stored = {each.instrument: each.answer_list for each in Screening.objects.all()}
    assert stored == chosen
    callback.refresh_from_db()
    assert callback.is_urgent


def _label(answer: int) -> str:
    return {
        0: "0 · Not at all",
        1: "1 · Several days",
        2: "2 · More than half the days",
        3: "3 · Nearly every day",
    }[answer]
