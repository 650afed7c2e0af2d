from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from intake.models import Lead, Submission
from intake.services import article_import_text

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "intake" / "demo" / "science-behind-antidepressants.txt"
URL = "/articles/science-behind-antidepressants/"


@pytest.fixture
def demo_article():
    return article_import_text(
        slug="science-behind-antidepressants", text=DEMO.read_text(encoding="utf-8")
    )


def test_the_demo_article_is_imported_without_the_page_chrome(demo_article):
    assert demo_article.title == "The Science Behind Antidepressants"
    assert "Beyond Chemical Imbalance" in demo_article.body
    assert "Call: (475)" not in demo_article.body
    assert "Screenshot" not in demo_article.body
    assert "Other Deep Dive Articles" not in demo_article.body
    assert "Read More" not in demo_article.body


def test_the_article_page_shows_the_article_and_a_working_form(client, demo_article):
    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>The Science Behind Antidepressants</h1>" in html
    assert "<h2>Mechanism of Action of Antidepressants</h2>" in html
    assert 'data-cta data-article="science-behind-antidepressants"' in html
    assert 'action="/articles/science-behind-antidepressants/request/"' in html
    assert "Reply STOP to opt out" in html  # the consent text the server serves
    assert "/static/intake/cta.js" in html


def test_an_unknown_or_unlisted_article_is_404(client, demo_article):
    assert client.get("/articles/no-such-article/").status_code == 404
    demo_article.is_listed = False
    demo_article.save()
    assert client.get(URL).status_code == 404


def test_the_form_works_without_javascript(client, demo_article):
    response = client.post(
        URL + "request/",
        {"first_name": "Maria", "phone": "202-555-0143", "sms_consent": "true"},
        HTTP_REFERER="https://www.google.com/",
    )

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert submission.reference in response.content.decode()
    assert submission.article == demo_article
    assert submission.sms_consent is True
    assert submission.consent_text_version
    assert submission.referrer == "https://www.google.com/"


def test_the_form_without_javascript_shows_field_errors(client, demo_article):
    response = client.post(URL + "request/", {"first_name": "", "phone": "12"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "This field may not be blank." in html
    assert "Enter a valid phone number." in html
    assert Lead.objects.count() == 0


def test_the_article_index_lists_listed_articles(client, demo_article):
    response = client.get("/articles/")
    assert demo_article.title in response.content.decode()


def test_the_form_without_javascript_shows_crisis_resources_when_needed(client, demo_article):
    response = client.post(
        URL + "request/",
        {"first_name": "Maria", "phone": "202-555-0143", "message": "quiero morirme"},
    )

    assert response.status_code == 201
    html = response.content.decode()
    assert "988 Suicide &amp; Crisis Lifeline" in html
    assert 'href="tel:911"' in html
    assert Submission.objects.get().crisis_language is True


def test_the_form_without_javascript_takes_the_contact_boxes_as_ticked_or_not(client, demo_article):
    client.post(
        URL + "request/",
        {"first_name": "Maria", "phone": "202-555-0143", "voicemail_ok": "true"},
    )

    submission = Submission.objects.get()
    assert (submission.voicemail_ok, submission.mention_clinic_ok) == (True, False)


def test_the_form_without_javascript_answers_past_the_per_phone_limit_like_any_other(
    client, demo_article, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "lead_submit_phone": "1/hour",
        },
    }
    form = {"first_name": "Maria", "phone": "202-555-0143"}
    assert client.post(URL + "request/", form).status_code == 201

    response = client.post(URL + "request/", form)

    # A 429 would tell a stranger the number was used; the request is kept, unconfirmed.
    assert response.status_code == 201
    assert Submission.objects.filter(contact_limited=True).count() == 1
