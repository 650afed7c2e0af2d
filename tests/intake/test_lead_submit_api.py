from __future__ import annotations

import pytest
from django.core import mail

from intake.consent import consent_text
from intake.models import Article, Consent, IdempotencyKey, Lead, Submission
from notifications.models import Message
from scheduling.models import Callback

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"


def payload(**overrides):
    body = {
        "first_name": "Maria",
        "last_name": "Lopez",
        "phone": "(202) 555-0143",
        "email": "Maria.Lopez@Example.org",
        "sms_consent": True,
        "article": "science-behind-antidepressants",
        "page_url": "https://clinic.example/articles/science-behind-antidepressants/",
        "utm_source": "newsletter",
        "utm_campaign": "nov",
    }
    body.update(overrides)
    return body


def test_it_stores_the_lead_submission_and_consent_and_answers_201(api_client):
    response = api_client.post(URL, payload(), format="json", HTTP_USER_AGENT="Browser/1.0")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "received"
    assert body["reference"].startswith("R-")
    assert set(body["callback_window"]) == {"starts_at", "ends_at"}
    submission = Submission.objects.get(reference=body["reference"])
    lead = submission.lead
    assert lead.first_name == "Maria"
    assert str(lead.phone) == "+12025550143"
    assert lead.email == "maria.lopez@example.org"
    assert submission.article.slug == "science-behind-antidepressants"
    assert (submission.utm_source, submission.utm_campaign) == ("newsletter", "nov")
    consent = Consent.objects.get(submission=submission)
    assert consent.granted is True
    assert consent.text_version == consent_text().version
    assert consent.text_sha256 == consent_text().sha256
    assert consent.user_agent == "Browser/1.0"
    assert consent.ip_address == "127.0.0.1"


def test_it_queues_the_callback_and_confirmations_after_commit(
    api_client, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(URL, payload(), format="json")

    assert response.status_code == 201
    submission = Submission.objects.get(reference=response.json()["reference"])
    assert Callback.objects.filter(lead=submission.lead, status="open").count() == 1
    assert [m.to for m in sms_outbox] == ["+12025550143"]
    assert sms_outbox[0].body.startswith("Hi Maria, this is")
    assert [m.to for m in mail.outbox] == [["maria.lopez@example.org"]]
    statuses = dict(Message.objects.values_list("channel", "status"))
    assert statuses == {"sms": "sent", "email": "sent"}


def test_it_sends_no_sms_without_consent(
    api_client, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(URL, payload(sms_consent=False), format="json")

    assert response.status_code == 201
    assert sms_outbox == []
    assert len(mail.outbox) == 1
    assert Consent.objects.get().granted is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": ""}, "first_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": "Ma\x00ria"}, "first_name"),
        ({"phone": "not a phone"}, "phone"),
        ({"phone": "", "email": ""}, "phone"),
        ({"email": "nope"}, "email"),
        ({"preferred_channel": "pigeon"}, "preferred_channel"),
        ({"best_time": "midnight"}, "best_time"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"message": "x" * 2001}, "message"),
        ({"interest": "astrology"}, "interest"),
    ],
)
def test_it_refuses_bad_fields_with_one_error_shape(api_client, change, field):
    response = api_client.post(URL, payload(**change), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"]
    assert field in body["fields"]
    assert all(isinstance(text, str) for text in body["fields"][field])
    assert Submission.objects.count() == 0


def test_a_missing_first_name_is_a_field_error(api_client):
    body = payload()
    del body["first_name"]
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["first_name"] == ["This field is required."]


def test_email_alone_is_enough(api_client):
    response = api_client.post(URL, payload(phone=""), format="json")
    assert response.status_code == 201
    assert Consent.objects.count() == 0  # no phone, nothing to consent to


def test_non_json_bodies_get_415(api_client):
    response = api_client.post(URL, "first_name=Maria", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_malformed_json_gets_400(api_client):
    response = api_client.post(URL, '{"first_name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_json_list_gets_400_not_500(api_client):
    response = api_client.post(URL, [1, 2], format="json")
    assert response.status_code == 400


def test_a_repeated_idempotency_key_replays_the_first_answer(api_client):
    first = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    second = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Submission.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1


def test_an_idempotency_key_reused_with_another_body_gets_422(api_client):
    api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-2")
    response = api_client.post(
        URL, payload(first_name="Other"), format="json", HTTP_IDEMPOTENCY_KEY="key-2"
    )

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Submission.objects.count() == 1


def test_a_second_submission_attaches_to_the_same_person_with_a_fresh_reference(api_client):
    first = api_client.post(URL, payload(), format="json")
    second = api_client.post(
        URL, payload(article="another-article", utm_source="facebook"), format="json"
    )

    assert first.status_code == second.status_code == 201
    assert first.json()["reference"] != second.json()["reference"]
    assert first.json().keys() == second.json().keys()
    assert Lead.objects.count() == 1
    lead = Lead.objects.get()
    assert sorted(lead.submissions.values_list("utm_source", flat=True)) == [
        "facebook",
        "newsletter",
    ]
    assert lead.needs_review is False


def test_another_first_name_on_a_known_phone_is_flagged_not_merged(api_client):
    api_client.post(URL, payload(), format="json")
    api_client.post(URL, payload(first_name="Ana", email=""), format="json")

    lead = Lead.objects.get()
    assert lead.needs_review is True
    assert lead.first_name == "Maria"
    assert list(lead.submissions.order_by("created_at").values_list("first_name", flat=True)) == [
        "Maria",
        "Ana",
    ]


def test_an_unknown_article_slug_is_kept_as_an_unlisted_article(api_client):
    response = api_client.post(URL, payload(article="new-page-nobody-registered"), format="json")

    assert response.status_code == 201
    article = Article.objects.get(slug="new-page-nobody-registered")
    assert article.is_listed is False
    assert article.needs_review is True


def test_the_honeypot_answers_like_a_success_and_sends_nothing(
    api_client, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(URL, payload(website="http://spam.example"), format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "received"
    submission = Submission.objects.get()
    assert submission.is_spam is True
    assert submission.processed_at is not None
    assert sms_outbox == [] and mail.outbox == []
    assert Callback.objects.count() == 0


def test_unknown_fields_are_ignored(api_client):
    response = api_client.post(URL, payload(favourite_colour="blue"), format="json")
    assert response.status_code == 201
