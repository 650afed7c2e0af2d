"""The call to action's optional insurance, in a real browser: under "More options",
never required; sent by cta.js from the article's form and from the embed it renders;
a member ID with characters no payer uses is announced on its field."""

from __future__ import annotations

import json

import pytest

from intake.models import InsuranceRecord, Submission
from tests.browser.conftest import SLUG
from tests.browser.test_cta import embed_urls, expect, submit_and_wait  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_insurance_is_optional_and_sent_from_more_options(open_page, live_server, demo_article):
    page, log = open_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/articles/{SLUG}/")
    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Phone", exact=True).fill("(202) 555-0143")
    # Hidden until asked for: the short form goes without it.
    expect(page.get_by_label("Insurance company")).to_be_hidden()
    page.get_by_text("More options").click()
    page.get_by_label("Insurance company").select_option("medicaid")
    page.get_by_label("Member ID").fill("md 4471?9")

    refused = submit_and_wait(page)

    assert refused.status == 400
    member = page.get_by_label("Member ID")
    expect(member).to_have_attribute("aria-invalid", "true")
    expect(member).to_be_focused()
    expect(page.locator("#cta-insurance-member-id-error")).to_contain_text("Letters, digits")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    member.fill("md 447109")
    answer = submit_and_wait(page)

    assert answer.status == 201
    submission = Submission.objects.get()
    assert (submission.insurance_payer, submission.insurance_member_id) == (
        "medicaid",
        "MD447109",
    )
    assert not InsuranceRecord.objects.exists()
    body = json.loads(log.to("/api/v1/leads/")[-1].post_data)
    assert body["insurance_payer"] == "medicaid"


def test_the_embed_renders_the_payers_from_the_configuration(
    open_page,
    live_server,
    demo_article,
    embed_urls,  # noqa: F811
):
    page, log = open_page()
    page.goto(f"{live_server.url}/test-embed/?article={SLUG}&clinic={live_server.url}")
    page.get_by_label("First name", exact=True).fill("Ana")
    page.get_by_label("Email", exact=True).fill("ana@example.org")
    page.get_by_text("More options").click()
    page.get_by_label("Insurance company").select_option("self_pay")

    answer = submit_and_wait(page)

    assert answer.status == 201
    submission = Submission.objects.get()
    assert (submission.insurance_payer, submission.insurance_member_id) == ("self_pay", "")
    assert log.foreign() == []
