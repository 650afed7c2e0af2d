from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils.html import escape

from clinic import business_time
from clinic.models import OpeningHours
from intake.apis.leads import submission_next_contact
from intake.models import Lead, Submission
from intake.services import article_import_text

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "intake" / "demo" / "science-behind-antidepressants.txt"
URL = "/articles/science-behind-antidepressants/"
# A reader's browser posting the article's form names the page's own origin.
FROM_THE_PAGE = {"HTTP_ORIGIN": "http://testserver"}


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
        **FROM_THE_PAGE,
    )

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert submission.reference in response.content.decode()
    assert submission.article == demo_article
    assert submission.sms_consent is True
    assert submission.consent_text_version
    assert submission.referrer == "https://www.google.com/"


def test_the_form_without_javascript_shows_field_errors(client, demo_article):
    response = client.post(URL + "request/", {"first_name": "", "phone": "12"}, **FROM_THE_PAGE)

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
        **FROM_THE_PAGE,
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
        **FROM_THE_PAGE,
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
    assert client.post(URL + "request/", form, **FROM_THE_PAGE).status_code == 201

    response = client.post(URL + "request/", form, **FROM_THE_PAGE)

    # A 429 would tell a stranger the number was used; the request is kept, unconfirmed.
    assert response.status_code == 201
    assert Submission.objects.filter(phone_limited=True).count() == 1


# --- The answer says when and how (intake.next_contact) ----------------------


@pytest.fixture
def closed_sunday(settings):
    """A New York clinic open 8:00 to 20:00 on weekdays, on a Sunday afternoon."""
    settings.CLINIC_TIME_ZONE = "America/New_York"
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    for day in range(5):
        OpeningHours.objects.create(weekday=day, opens_at=time(8), closes_at=time(20))
    business_time.forget()
    with time_machine.travel(datetime(2026, 12, 6, 14, 0, tzinfo=ZoneInfo("America/New_York"))):
        yield


def test_the_page_without_javascript_says_when_we_will_call_as_the_api_would(
    client, demo_article, closed_sunday
):
    response = client.post(
        URL + "request/",
        {"first_name": "Maria", "phone": "202-555-0143"},
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 201
    html = response.content.decode()
    submission = Submission.objects.get()
    expected = submission_next_contact(submission)["text"]
    assert expected == (
        "We're closed now. A care coordinator will call you tomorrow after we open at "
        "8:00 AM EST. Times are in the clinic's time zone (America/New York)."
    )
    assert escape(expected) in html
    assert "soon" not in html


def test_the_page_without_javascript_tells_an_email_only_person_we_will_email(
    client, demo_article, closed_sunday
):
    response = client.post(
        URL + "request/",
        {"first_name": "Maria", "email": "maria@example.org"},
        HTTP_ORIGIN="http://testserver",
    )

    html = response.content.decode()
    assert "A care coordinator will email you tomorrow after we open at 8:00 AM EST." in html
    assert "call you" not in html


def test_the_forms_lead_line_promises_no_call_before_the_person_chose_one(client, demo_article):
    html = client.get(URL).content.decode()
    lead = html[html.index('class="cta-lead"') :]
    lead = lead[: lead.index("</p>")]

    assert "will get back to you" in lead
    assert "call you" not in lead


# --- Phone numbers as people read them ------------------------------------------


def test_the_phone_filters_show_national_format_and_dial_e164(settings):
    from intake.templatetags.phone_numbers import phone_e164, phone_national

    settings.PHONENUMBER_DEFAULT_REGION = "US"
    assert phone_national("+14753292686") == "(475) 329-2686"
    assert phone_e164("(475) 329 2686") == "+14753292686"
    # Another country's number keeps its country code; a short code is shown as given.
    assert phone_national("+442071838750") == "+44 20 7183 8750"
    assert phone_national("988") == "988"
    assert phone_national("") == ""
    assert phone_national("not a number") == "not a number"


def test_the_article_page_shows_the_clinic_number_in_national_format_as_a_tel_link(
    client, demo_article, settings
):
    settings.CLINIC_PHONE = "+14753292686"
    html = client.get(URL).content.decode()

    assert 'href="tel:+14753292686">(475) 329-2686</a>' in html
    assert ">+14753292686<" not in html  # E.164 only in the href


def test_messages_to_people_show_the_clinic_number_in_national_format(settings):
    from notifications.services import message_render

    settings.CLINIC_PHONE = "+14753292686"
    email = message_render(
        template="confirmation",
        channel="email",
        context={"first_name": "Maria", "callback_window": "today by 5 PM"},
    )
    sms = message_render(template="help", channel="sms", context={})

    assert "(475) 329-2686" in email.body
    assert 'href="tel:+14753292686">(475) 329-2686</a>' in email.body_html
    assert "+14753292686" not in email.body
    assert "(475) 329-2686" in sms.body and "+1475" not in sms.body


def test_the_short_form_comes_first_and_an_error_further_on_opens_more_options(
    client, demo_article
):
    html = client.get(URL).content.decode()
    more = html.index("<details")
    for name in ("first_name", "phone", "email", "in_crisis", "sms_consent"):
        assert html.index(f'name="{name}"') < more, name
    for name in ("last_name", "preferred_channel", "best_time", "message", "voicemail_ok"):
        assert html.index(f'name="{name}"') > more, name
    assert '<details class="more" data-cta-more>' in html  # closed at first
    assert html.index("Suicide &amp; Crisis Lifeline") > html.index('type="submit"')

    response = client.post(
        URL + "request/",
        {"first_name": "Maria", "phone": "202-555-0143", "message": "x" * 2001},
        **FROM_THE_PAGE,
    )

    assert response.status_code == 400
    assert '<details class="more" data-cta-more open>' in response.content.decode()
