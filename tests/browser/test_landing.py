"""In Chromium: marketing signs in from the console's address and lands on the
report, whose column headers can be read."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def test_marketing_lands_on_the_report_with_readable_headers(open_page, live_server):
    marketer = UserFactory(username="morgan")
    marketer.groups.add(Group.objects.get_or_create(name="marketing")[0])
    submit_lead()
    page, log = open_page(allowed=())

    page.goto(f"{live_server.url}/console/")  # the address a coordinator would use
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/reports/")

    header = page.locator(".report-table thead button").first
    assert header.is_visible()
    colour = header.evaluate("el => getComputedStyle(el).color")
    assert colour == "rgb(31, 41, 51)"  # the ink colour, not white on white

    page.goto(f"{live_server.url}/console/")
    assert page.get_by_role("heading", name="This page is not for your role").is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert page.get_by_role("link", name="Go to the reports").is_visible()
    assert log.foreign() == []
