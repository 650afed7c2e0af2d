"""The call to action in a real browser: cta.js on the demo article, on a bare page
that only pastes the embed snippet, and the plain form without JavaScript."""

from __future__ import annotations

import json
import re

import pytest

from intake.models import Submission
from tests.browser.conftest import SLUG

pytestmark = pytest.mark.django_db(transaction=True)

ARTICLE = f"/articles/{SLUG}/"


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def embed_urls(settings):
    """The project's URLs plus /test-embed/, a bare page pasting the CTA snippet."""
    settings.ROOT_URLCONF = "tests.browser.urls"


def submit_and_wait(page):
    """Click the form's button and return the intake API's answer."""
    with page.expect_response(lambda r: r.url.endswith("/api/v1/leads/")) as answer:
        page.get_by_role("button", name="Request a callback").click()
    return answer.value


def test_a_reader_requests_a_callback_and_the_lead_carries_article_and_campaign(
    open_page, live_server, demo_article
):
    page, log = open_page()
    page.context.add_cookies(
        [{"name": "sessionid", "value": "a-staff-session", "url": live_server.url}]
    )
    page.goto(f"{live_server.url}{ARTICLE}?utm_source=newsletter&utm_campaign=nov")

    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Phone", exact=True).fill("(202) 555-0143")
    page.get_by_label("I agree to receive text messages").check()
    answer = submit_and_wait(page)

    assert answer.status == 201
    reference = answer.json()["reference"]
    success = page.locator(".success")
    expect(success).to_contain_text("Thank you, we received your request.")
    expect(success).to_contain_text(reference)
    expect(success).to_be_focused()

    submission = Submission.objects.select_related("article", "lead").get()
    assert submission.reference == reference
    assert submission.article == demo_article
    assert (submission.utm_source, submission.utm_campaign) == ("newsletter", "nov")
    assert submission.lead.timezone == "America/Chicago"
    assert submission.first_touch["utm_campaign"] == "nov"  # remembered in localStorage
    assert submission.consents.get().granted is True

    (lead_post,) = log.to("/api/v1/leads/")
    body = json.loads(lead_post.post_data)
    assert body["first_touch"]["utm_source"] == "newsletter"
    assert body["article"] == SLUG
    assert body["consent_version"]
    assert body["contact_preferences"] == {"voicemail_ok": False, "mention_clinic_ok": False}
    assert lead_post.all_headers()["idempotency-key"]
    # The API and the beacons never carry the clinic's cookies; the page itself does.
    assert "cookie" in log.requests[0].all_headers()
    beacons = log.to("/api/v1/events/")
    assert {json.loads(b.post_data)["type"] for b in beacons} >= {"article_view", "form_start"}
    for request in [lead_post, *beacons]:
        assert "cookie" not in request.all_headers()

    assert log.foreign() == []
    first_touch = page.evaluate("localStorage.getItem('clinic-cta-touch')")
    assert json.loads(first_touch)["first"]["utm_campaign"] == "nov"


def test_a_bad_phone_is_announced_on_the_field_using_the_keyboard_alone(
    open_page, live_server, demo_article
):
    page, log = open_page()
    page.goto(f"{live_server.url}{ARTICLE}")

    page.get_by_label("First name", exact=True).focus()
    page.keyboard.type("Maria")
    page.keyboard.press("Tab")  # phone: next in the short form (last name is further on)
    page.keyboard.type("12345")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/leads/")) as answer:
        page.keyboard.press("Enter")

    assert answer.value.status == 400
    phone = page.get_by_label("Phone", exact=True)
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_be_focused()
    error = page.locator("#cta-phone-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Enter a valid phone number.")
    expect(phone).to_have_attribute("aria-describedby", re.compile(r"\bcta-phone-error\b"))
    expect(page.locator(".cta-status")).to_contain_text("Please check the highlighted fields.")
    assert Submission.objects.count() == 0

    # Saying "I need help right now" shows 988 and 911 at once, before any answer.
    page.keyboard.press("Shift+Tab")
    page.get_by_label("I need help right now").check()
    crisis = page.locator("[data-crisis-now]")
    expect(crisis).to_contain_text("988")
    expect(crisis).to_contain_text("911")

    # ...and they stay on screen after the request is sent.
    phone.fill("202-555-0143")
    assert submit_and_wait(page).status == 201
    expect(page.locator(".success")).to_contain_text("Help is available right now")
    expect(page.locator(".success")).to_contain_text("988")
    assert json.loads(log.to("/api/v1/leads/")[-1].post_data)["in_crisis"] is True
    assert log.foreign() == []


def test_an_empty_div_on_a_plain_page_renders_the_form_and_submits(
    open_page, live_server, demo_article, embed_urls
):
    page, log = open_page()
    page.goto(
        f"{live_server.url}/test-embed/?article={SLUG}&clinic={live_server.url}&utm_source=partner"
    )

    expect(page.get_by_label("First name", exact=True)).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_be_visible()
    # The consent text and its version come from the config endpoint.
    consent = page.get_by_label("I agree to receive text messages")
    expect(consent).to_be_visible()
    page.get_by_label("First name", exact=True).fill("Ana")
    page.get_by_label("Email", exact=True).fill("ana@example.org")
    consent.check()
    answer = submit_and_wait(page)

    assert answer.status == 201
    expect(page.locator(".success")).to_contain_text(answer.json()["reference"])
    submission = Submission.objects.get()
    assert submission.article == demo_article
    assert submission.utm_source == "partner"
    assert json.loads(log.to("/api/v1/leads/")[0].post_data)["consent_version"]
    assert log.foreign() == []


def test_the_embed_still_renders_a_form_when_the_config_endpoint_is_missing(
    open_page, live_server, demo_article, embed_urls
):
    page, log = open_page()
    page.route("**/api/v1/cta/**", lambda route: route.fulfill(status=404, body="{}"))
    page.goto(f"{live_server.url}/test-embed/?article={SLUG}&clinic={live_server.url}")

    page.get_by_label("First name", exact=True).fill("Ana")
    page.get_by_label("Phone", exact=True).fill("202-555-0177")
    # No consent text to show, so no SMS consent box and no SMS channel.
    expect(page.get_by_label("I agree to receive text messages")).to_have_count(0)
    expect(page.locator("select[name=preferred_channel] option[value=sms]")).to_have_count(0)
    assert submit_and_wait(page).status == 201
    assert Submission.objects.get().consents.get().granted is False
    assert log.foreign() == []


def test_the_embed_on_another_site_talks_to_the_clinic_it_came_from(
    open_page, live_server, demo_article, embed_urls, settings
):
    clinic = live_server.url  # http://localhost:PORT
    other_site = clinic.replace("localhost", "127.0.0.1")  # another origin, same server
    settings.CORS_ALLOWED_ORIGINS = [other_site]
    page, log = open_page(allowed=(other_site,))
    page.goto(f"{other_site}/test-embed/?article={SLUG}&clinic={clinic}&utm_medium=referral")

    page.get_by_label("First name", exact=True).fill("Ana")
    page.get_by_label("Phone", exact=True).fill("202-555-0188")
    answer = submit_and_wait(page)

    assert answer.status == 201
    assert answer.url == f"{clinic}/api/v1/leads/"
    expect(page.locator(".success")).to_contain_text(answer.json()["reference"])
    assert Submission.objects.get().utm_medium == "referral"
    assert {r.url.split("/")[2] for r in log.requests} <= {
        other_site.split("/")[2],
        clinic.split("/")[2],
    }


def test_without_javascript_the_form_posts_and_shows_a_thank_you_page(
    open_page, live_server, demo_article
):
    page, log = open_page(js=False)
    page.goto(f"{live_server.url}{ARTICLE}?utm_source=newsletter&utm_campaign=nov")

    page.get_by_label("First name", exact=True).fill("Maria")
    page.get_by_label("Phone", exact=True).fill("202-555-0143")
    page.get_by_label("I need help right now").check()
    page.get_by_role("button", name="Request a callback").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, we received your request")
    submission = Submission.objects.get()
    expect(page.locator("main")).to_contain_text(submission.reference)
    expect(page.get_by_role("alert")).to_contain_text("988")  # crisis resources, at once
    assert (submission.utm_source, submission.utm_campaign) == ("newsletter", "nov")
    assert log.foreign() == []


@pytest.mark.parametrize("referrer", ["strict-origin-when-cross-origin", "no-referrer"])
def test_another_sites_plain_form_cannot_make_its_visitor_request_a_callback(
    open_page, live_server, demo_article, embed_urls, referrer
):
    clinic = live_server.url
    hostile = clinic.replace("localhost", "127.0.0.1")  # another origin, same server
    page, _log = open_page(js=False, allowed=(hostile,))
    page.goto(f"{hostile}/test-foreign-form/?article={SLUG}&clinic={clinic}&referrer={referrer}")

    with page.expect_response(lambda r: r.url.endswith("/request/")) as answer:
        page.get_by_role("button", name="Enter").click()

    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Please send this form from our own page"
    )
    assert Submission.objects.count() == 0
