"""The no-JavaScript form accepts a post only from the clinic's own pages (issue 20,
item 3): no other site can make its visitors submit a request."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client

from intake.form_origin import FORM_FIELD, form_token
from intake.models import Submission
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

SLUG = "an-article"
POST = f"/articles/{SLUG}/request/"
FORM = {"first_name": "Maria", "phone": "202-555-0143", "email": "maria@example.org"}
EVIL = "https://evil.example"


@pytest.fixture(autouse=True)
def article():
    return ArticleFactory(slug=SLUG)


def page_token(client: Client) -> str:
    """The hidden token of the article page's form, as a reader's browser holds it."""
    html = client.get(f"/articles/{SLUG}/").content.decode()
    match = re.search(rf'name="{FORM_FIELD}" value="([^"]+)"', html)
    assert match, "the article's form carries no token"
    return match.group(1)


def assert_refused(response):
    assert response.status_code == 403
    assert "Please send this form from our own page" in response.content.decode()
    assert f'href="/articles/{SLUG}/#cta"' in response.content.decode()
    assert Submission.objects.count() == 0
    assert mail.outbox == []


# --- The attacks ------------------------------------------------------------------------


def test_another_site_cannot_make_its_visitors_submit(client):
    assert_refused(client.post(POST, FORM, HTTP_ORIGIN=EVIL, HTTP_SEC_FETCH_SITE="cross-site"))


def test_another_site_cannot_outweigh_its_origin_with_a_token_it_fetched(client):
    token = page_token(client)
    assert_refused(client.post(POST, {**FORM, FORM_FIELD: token}, HTTP_ORIGIN=EVIL))


def test_another_site_that_hides_its_origin_is_still_another_site(client):
    # Referrer-Policy: no-referrer on the attacker's page: Origin "null", no Referer.
    token = page_token(client)
    response = client.post(
        POST, {**FORM, FORM_FIELD: token}, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="cross-site"
    )
    assert_refused(response)


def test_a_post_from_another_sites_page_without_origin_is_refused_by_its_referer(client):
    assert_refused(client.post(POST, FORM, HTTP_REFERER=f"{EVIL}/landing?x=1"))


def test_a_post_that_names_no_origin_needs_the_pages_token(client):
    assert_refused(client.post(POST, FORM))
    assert_refused(client.post(POST, {**FORM, FORM_FIELD: "forged"}))


def test_another_articles_or_an_old_token_does_not_open_the_form(client):
    other = form_token(article_slug="another-article")
    assert_refused(client.post(POST, {**FORM, FORM_FIELD: other}))
    with time_machine.travel(timedelta(days=-2), tick=False):
        stale = form_token(article_slug=SLUG)
    assert_refused(client.post(POST, {**FORM, FORM_FIELD: stale}))


def test_a_look_alike_of_the_clinics_origin_is_another_site(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://www.clinic.example"]
    for origin in (
        "https://www.clinic.example.evil.example",
        "http://www.clinic.example",  # another scheme is another origin
        "https://www.clinic.example:8443",
    ):
        assert_refused(client.post(POST, FORM, HTTP_ORIGIN=origin))


# --- Readers on the clinic's pages ---------------------------------------------------------


def test_the_article_page_itself_can_post(client):
    response = client.post(POST, FORM, HTTP_ORIGIN="http://testserver")
    assert response.status_code == 201
    assert Submission.objects.count() == 1


@pytest.mark.parametrize(
    "origin",
    ["https://www.clinic.example", "https://WWW.Clinic.Example:443", "https://app.example"],
)
def test_the_clinics_other_sites_and_its_public_address_can_post(client, settings, origin):
    settings.CORS_ALLOWED_ORIGINS = ["https://www.clinic.example"]
    settings.PUBLIC_BASE_URL = "https://app.example"
    assert client.post(POST, FORM, HTTP_ORIGIN=origin).status_code == 201


def test_without_origin_the_referer_of_the_clinics_page_is_enough(client):
    response = client.post(POST, FORM, HTTP_REFERER=f"http://testserver/articles/{SLUG}/")
    assert response.status_code == 201


def test_a_browser_that_says_same_origin_is_believed_when_it_hides_the_origin(client):
    response = client.post(POST, FORM, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code == 201


def test_a_browser_that_sends_no_origin_posts_with_the_pages_token(client):
    response = client.post(POST, {**FORM, FORM_FIELD: page_token(client)})
    assert response.status_code == 201
    assert Submission.objects.get().first_name == "Maria"
