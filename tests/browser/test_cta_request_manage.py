"""The page of a confirmation email's link, on a phone and a laptop: saving less contact
lists the choices in force, cancelling asks once more, and the cancel is undone from the
same page; nothing on it names the person or shows their phone or email."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from intake.models import Lead, Submission
from scheduling import links
from scheduling.models import Callback
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db(transaction=True)


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def request_link(transactional_db):
    from scheduling.services import submission_route

    submission = submit_lead(first_name="Dana", last_name="Okafor", email="dana.okafor@example.org")
    submission_route(submission_id=submission.pk)
    submission.refresh_from_db()
    url = links.request_manage_url(submission_id=submission.pk, email_hash=submission.email_hash)
    return submission, urlsplit(url).path


def _no_personal_data(page, submission) -> None:
    text = page.locator("body").inner_text()
    for value in ("Dana", "Okafor", "dana.okafor", submission.phone.as_national[-4:]):
        assert value not in text, value


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_less_contact_is_listed_and_a_cancel_is_asked_once_and_undone(
    open_page, live_server, request_link, width, height
):
    submission, path = request_link
    page, log = open_page(js=False)  # the page works as plain forms
    page.set_viewport_size({"width": width, "height": height})
    page.goto(live_server.url + path)
    _no_personal_data(page, submission)

    page.get_by_label("Do not say the clinic's name to whoever answers").check()
    page.get_by_label("Do not text me").check()
    page.get_by_role("button", name="Save").click()

    status = page.get_by_role("status")
    expect(status).to_have_text("Saved. These choices are now in force for this request.")
    expect(status).to_be_focused()
    in_force = page.locator(".in-force")
    expect(in_force).to_contain_text("Discreet")
    expect(in_force).to_contain_text("No texts")
    expect(in_force).to_contain_text("No voicemail")  # the form's default, shown as in force
    expect(page.get_by_label("Do not text me")).to_have_count(0)
    _no_personal_data(page, submission)

    # One press only asks; "keep" changes nothing.
    page.get_by_role("button", name="Cancel this request").click()
    expect(page.get_by_role("heading", name="Cancel this request?")).to_be_focused()
    yes = page.get_by_role("button", name="Yes, cancel my request")
    keep = page.get_by_role("link", name="No, keep my request")
    for control in (yes, keep):
        box = control.bounding_box()
        assert box["height"] >= 40 and box["x"] + box["width"] <= width
    keep.click()
    expect(page.get_by_role("button", name="Cancel this request")).to_be_visible()
    assert Submission.objects.get(pk=submission.pk).cancelled_at is None

    page.get_by_role("button", name="Cancel this request").click()
    page.get_by_role("button", name="Yes, cancel my request").click()
    expect(page.get_by_role("status")).to_contain_text("Your request is cancelled.")
    expect(in_force).to_contain_text("Cancelled")
    expect(page.get_by_text("You can restore this request until")).to_be_visible()
    assert Lead.objects.get(pk=submission.lead_id).stage == Lead.Stage.CLOSED

    page.get_by_role("button", name="Restore my request").click()
    expect(page.get_by_role("status")).to_contain_text("Your request is restored.")
    expect(in_force).not_to_contain_text("Cancelled")
    expect(in_force).to_contain_text("Discreet")
    assert Submission.objects.get(pk=submission.pk).cancelled_at is None
    assert Lead.objects.get(pk=submission.lead_id).stage != Lead.Stage.CLOSED
    assert Callback.objects.get(lead_id=submission.lead_id).status == Callback.Status.OPEN
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    _no_personal_data(page, submission)
    assert log.foreign() == []


def test_every_state_of_the_page_has_no_serious_accessibility_violation(
    axe_page,  # noqa: F811 (the fixture imported above)
    live_server,
    request_link,
):
    _submission, path = request_link
    page = axe_page(390, 844)
    page.goto(live_server.url + path)
    assert serious_violations(page) == []
    page.get_by_role("button", name="Cancel this request").click()
    assert serious_violations(page) == []  # the question
    page.get_by_role("button", name="Yes, cancel my request").click()
    assert serious_violations(page) == []  # cancelled, with its undo
