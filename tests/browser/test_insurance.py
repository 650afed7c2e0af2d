"""In Chromium at 390 px: a coordinator records the person's insurance on the callback
page, by label, sees a refused member ID by its field, then marks the benefits verified
with one button; the page stays within the phone's width and free of serious
accessibility violations."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from intake.models import InsuranceRecord
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


def test_a_coordinator_records_insurance_on_a_phone_sized_screen(
    axe_page,  # noqa: F811
    live_server,
    coordinator,
    settings,
):
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.STAFF_ALERT_EMAILS = []
    callback = Callback.objects.get(submission=submit_lead(first_name="Robin"))
    page = axe_page(390, 844)
    sign_in(page, live_server, coordinator)
    page.goto(f"{live_server.url}/console/callbacks/{callback.pk}/")

    page.get_by_label("Payer").select_option("unitedhealthcare")
    page.get_by_label("Plan type").select_option("ppo")
    page.get_by_label("Member ID").fill("UHC 9912-44?")
    page.get_by_label("Group number").fill("71234")
    page.get_by_label("The policy holder is").select_option("parent")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Record the insurance").click()

    # Refused by its field, what was typed kept; nothing stored.
    error = page.locator("#insurance-member-id-error")
    assert error.is_visible() and "Letters, digits and hyphens" in error.inner_text()
    assert page.get_by_label("Member ID").input_value() == "UHC 9912-44?"
    assert not InsuranceRecord.objects.exists()
    assert serious_violations(page) == []

    page.get_by_label("Member ID").fill("UHC 9912-44")
    page.get_by_role("button", name="Record the insurance").click()
    page.wait_for_url(f"{live_server.url}/console/callbacks/{callback.pk}/#insurance-heading")
    assert page.get_by_text("Insurance recorded.").is_visible()
    assert "UHC9912-44" in page.locator(".insurance-record").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name="Verified, in network").click()
    page.wait_for_url(f"{live_server.url}/console/callbacks/{callback.pk}/#insurance-heading")
    status = page.locator("#insurance-status").inner_text()
    assert "Verified, in network" in status and "casey" in status
    record = InsuranceRecord.objects.get()
    assert (record.payer, record.member_id, record.verification_status) == (
        "unitedhealthcare",
        "UHC9912-44",
        "verified_in_network",
    )
    assert record.verification_changed_by_id == coordinator.pk
