"""In Chromium: marketing signs in from the console's address and lands on the
report, whose column headers can be read; the supervisor board refreshes itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from scheduling.models import Callback
from tests.browser.test_console import sign_in
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


def test_the_supervisor_board_refreshes_by_itself(open_page, live_server):
    supervisor = UserFactory(username="sasha")
    supervisor.groups.add(Group.objects.get_or_create(name="supervisor")[0])
    page, log = open_page(allowed=())
    sign_in(page, live_server, supervisor)
    page.goto(f"{live_server.url}/console/board/")
    overdue = page.locator("section", has_text="Overdue").first
    assert overdue.get_by_text("None.").is_visible()

    late = submit_lead(first_name="Latecomer")
    moment = timezone.now() - timedelta(minutes=20)
    Callback.objects.filter(submission=late).update(due_at=moment, original_due_at=moment)

    overdue.get_by_role("link", name="Latecomer").wait_for(timeout=8_000)  # polled every 5 s
    assert page.url == f"{live_server.url}/console/board/"
    assert log.foreign() == []
