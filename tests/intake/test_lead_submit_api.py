from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from intake.consent import consent_text
from intake.models import Article, Consent, IdempotencyKey, Lead, Submission
from notifications.models import Message
from scheduling.models import Callback
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"


@pytest.fixture
def api_client(routed_api_client):
    return routed_api_client


@pytest.fixture(autouse=True)
def _article(db):
    ArticleFactory(slug="science-behind-antidepressants")


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
    assert sms_outbox[0].body.startswith("Hi, this is")  # no name: nobody verified it
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


def test_an_unknown_article_slug_is_stored_without_an_article_not_created(api_client):
    response = api_client.post(URL, payload(article="new-page-nobody-registered"), format="json")

    assert response.status_code == 201
    assert not Article.objects.filter(slug="new-page-nobody-registered").exists()
    submission = Submission.objects.get(reference=response.json()["reference"])
    assert submission.article_id is None
    assert submission.lead is not None


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


# --- Every field of the contract -------------------------------------------------------


def test_the_phone_is_stored_in_e164_with_its_line_type(api_client):
    api_client.post(URL, payload(phone="+44 20 7183 8750", email=""), format="json")

    lead = Lead.objects.get()
    assert str(lead.phone) == "+442071838750"
    assert lead.phone_type == "fixed_line"


def test_a_premium_rate_number_is_refused(api_client):
    response = api_client.post(URL, payload(phone="+1 900 555 1234"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"]["phone"] == ["Enter a number we can call you back on."]


def test_names_are_trimmed_and_unicode_normalised(api_client):
    decomposed = "Jose\u0301"  # "José" written as e + combining accent
    api_client.post(URL, payload(first_name=f"  {decomposed} ", last_name=" Núñez "), format="json")

    lead = Lead.objects.get()
    assert lead.first_name == "Jos\u00e9"
    assert lead.last_name == "Núñez"


def test_an_invisible_formatting_character_in_a_name_is_refused(api_client):
    response = api_client.post(URL, payload(first_name="Ma\u200bria"), format="json")
    assert response.status_code == 400
    assert "first_name" in response.json()["fields"]


def test_a_text_preference_needs_a_phone(api_client):
    response = api_client.post(URL, payload(phone="", preferred_channel="sms"), format="json")

    assert response.status_code == 400
    assert "phone" in response.json()["fields"]


def test_an_odd_page_url_is_dropped_not_refused(api_client):
    response = api_client.post(
        URL, payload(page_url="javascript:alert(1)", referrer="android-app://x"), format="json"
    )

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert (submission.page_url, submission.referrer) == ("", "")


def test_control_characters_in_utm_values_are_dropped(api_client):
    api_client.post(URL, payload(utm_source="news\nletter"), format="json")
    assert Submission.objects.get().utm_source == "newsletter"


def test_the_first_campaign_touch_is_kept_beside_the_last(api_client):
    first_touch = {"utm_source": "google", "utm_campaign": "spring", "at": "2026-09-01T10:00:00Z"}
    api_client.post(URL, payload(first_touch=first_touch), format="json")

    submission = Submission.objects.get()
    assert submission.utm_source == "newsletter"
    assert submission.first_touch == {
        "utm_source": "google",
        "utm_campaign": "spring",
        "at": "2026-09-01T10:00:00+00:00",
    }


# --- One error shape, 413, 415 -------------------------------------------------------------


def test_a_body_over_64_kb_gets_413(api_client):
    response = api_client.post(URL, payload(message="x" * 70_000), format="json")

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert Submission.objects.count() == 0


def test_a_body_over_64_kb_without_content_length_is_refused_by_what_was_read(rf):
    from intake.apis.leads import LeadSubmitApi

    body = json.dumps(payload(message="x" * 70_000)).encode()
    request = rf.post(URL, data=body, content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(64 * 1024 - 1)  # a lie: the limit is on the bytes read

    response = LeadSubmitApi.as_view()(request)

    assert response.status_code == 413


def test_a_body_without_a_content_type_gets_415(api_client):
    response = api_client.generic("POST", URL, json.dumps(payload()), content_type="")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_deeply_nested_json_gets_400_not_500(api_client):
    response = api_client.post(URL, "[" * 30_000 + "]" * 30_000, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_nan_is_not_json(api_client):
    response = api_client.post(URL, '{"first_name": NaN}', content_type="application/json")
    assert response.status_code == 400


def test_a_nested_field_error_is_named_by_its_path(api_client):
    response = api_client.post(
        URL, payload(contact_preferences={"voicemail_ok": "perhaps"}), format="json"
    )

    assert response.status_code == 400
    assert "contact_preferences.voicemail_ok" in response.json()["fields"]


# --- Idempotency ---------------------------------------------------------------------------


def test_an_idempotency_key_expires_after_24_hours(api_client):
    first = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-3")

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        again = api_client.post(
            URL, payload(first_name="Other"), format="json", HTTP_IDEMPOTENCY_KEY="key-3"
        )

    assert again.status_code == 201
    assert again.json()["reference"] != first.json()["reference"]
    assert Submission.objects.count() == 2
    assert IdempotencyKey.objects.get().submission.reference == again.json()["reference"]


def test_an_idempotency_key_is_kept_for_almost_24_hours(api_client):
    first = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-4")

    with time_machine.travel(timezone.now() + timedelta(hours=23, minutes=59)):
        again = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-4")

    assert again.json() == first.json()
    assert Submission.objects.count() == 1


def test_a_replayed_request_is_not_counted_against_the_phone(api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "lead_submit_phone": "1/hour",
        },
    }
    first = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-5")
    again = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY="key-5")

    assert first.status_code == again.status_code == 201


@pytest.mark.parametrize("key", ["x" * 256, "caf\u00e9", "two words"])
def test_a_malformed_idempotency_key_is_a_field_error(api_client, key):
    response = api_client.post(URL, payload(), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert Submission.objects.count() == 0


# --- People, not rows -------------------------------------------------------------------


def test_the_answer_does_not_tell_whether_the_person_was_known(api_client):
    first = api_client.post(URL, payload(), format="json").json()
    known = api_client.post(URL, payload(first_name="Ana"), format="json").json()
    stranger = api_client.post(
        URL, payload(phone="+12025550199", email="new@example.org"), format="json"
    ).json()

    assert len({first["reference"], known["reference"], stranger["reference"]}) == 3
    shapes = [
        (sorted(body), body["status"], sorted(body["callback_window"]))
        for body in (first, known, stranger)
    ]
    assert shapes[0] == shapes[1] == shapes[2]


def test_a_later_submission_does_not_fill_in_an_email_the_lead_lacked(api_client):
    # Anyone who knows the phone could send it: a coordinator confirms it first.
    api_client.post(URL, payload(email=""), format="json")
    api_client.post(URL, payload(email="maria@example.org"), format="json")

    lead = Lead.objects.get()
    assert lead.email == ""
    assert lead.needs_review is True
    assert lead.submissions.count() == 2


def test_each_submission_keeps_the_contact_details_it_came_with(api_client):
    api_client.post(URL, payload(), format="json")
    api_client.post(URL, payload(phone="+1 202 555 0177"), format="json")  # same email

    lead = Lead.objects.get()
    assert str(lead.phone) == "+12025550143"
    phones = sorted(str(s.phone) for s in lead.submissions.all())
    assert phones == ["+12025550143", "+12025550177"]


def test_a_closed_lead_is_not_reopened_by_a_new_submission(api_client):
    api_client.post(URL, payload(), format="json")
    Lead.objects.update(stage=Lead.Stage.CLOSED)

    api_client.post(URL, payload(), format="json")

    assert Lead.objects.count() == 2
    assert Lead.objects.filter(stage=Lead.Stage.NEW).count() == 1


# --- Discreet contact ------------------------------------------------------------------------


def test_contact_preferences_default_to_no_voicemail_and_naming_the_clinic(api_client):
    api_client.post(URL, payload(), format="json")

    lead = Lead.objects.get()
    submission = Submission.objects.get()
    assert (lead.voicemail_ok, lead.mention_clinic_ok) == (False, True)
    assert (submission.voicemail_ok, submission.mention_clinic_ok) == (False, True)


def test_contact_preferences_are_stored_and_a_later_wish_for_discretion_wins(api_client):
    api_client.post(URL, payload(contact_preferences={"voicemail_ok": True}), format="json")
    lead = Lead.objects.get()
    assert (lead.voicemail_ok, lead.mention_clinic_ok) == (True, True)

    api_client.post(
        URL,
        payload(contact_preferences={"voicemail_ok": False, "mention_clinic_ok": False}),
        format="json",
    )

    lead.refresh_from_db()
    assert (lead.voicemail_ok, lead.mention_clinic_ok) == (False, False)


def test_an_anonymous_form_cannot_relax_discretion_on_a_known_lead(api_client):
    # Anyone who knows the phone and name could send it: the request is kept on the
    # submission for a coordinator to confirm, and the lead stays discreet.
    api_client.post(URL, payload(contact_preferences={"mention_clinic_ok": False}), format="json")
    api_client.post(
        URL,
        payload(contact_preferences={"voicemail_ok": True, "mention_clinic_ok": True}),
        format="json",
    )

    lead = Lead.objects.get()
    assert (lead.voicemail_ok, lead.mention_clinic_ok) == (False, False)
    latest = Submission.objects.order_by("-pk").first()
    assert (latest.voicemail_ok, latest.mention_clinic_ok) == (True, True)


def test_a_later_submission_keeps_its_channel_time_and_zone_off_the_lead(api_client):
    api_client.post(URL, payload(), format="json")
    api_client.post(
        URL,
        payload(preferred_channel="sms", best_time="evening", timezone="America/Chicago"),
        format="json",
    )

    lead = Lead.objects.get()
    assert (lead.preferred_channel, lead.best_time, lead.timezone) == ("call", "anytime", "")
    later = Submission.objects.order_by("-pk").first()
    assert (later.preferred_channel, later.best_time, later.timezone) == (
        "sms",
        "evening",
        "America/Chicago",
    )


def test_spam_on_a_known_phone_changes_nothing_on_the_lead(api_client):
    api_client.post(URL, payload(contact_preferences={"mention_clinic_ok": False}), format="json")
    api_client.post(
        URL,
        payload(first_name="Bot", preferred_channel="sms", website="http://spam.example"),
        format="json",
    )

    lead = Lead.objects.get()
    assert (lead.needs_review, lead.preferred_channel, lead.mention_clinic_ok) == (
        False,
        "call",
        False,
    )
    # Spam is attached to nobody.
    assert lead.submissions.filter(is_spam=True).count() == 0
    assert Submission.objects.get(is_spam=True).lead is None


def test_someone_else_on_a_known_phone_can_only_make_contact_more_discreet(api_client):
    api_client.post(URL, payload(), format="json")
    api_client.post(
        URL,
        payload(
            first_name="Ana",
            contact_preferences={"voicemail_ok": True, "mention_clinic_ok": False},
        ),
        format="json",
    )

    lead = Lead.objects.get()
    assert lead.needs_review is True
    assert (lead.voicemail_ok, lead.mention_clinic_ok) == (False, False)


# --- Throttles ---------------------------------------------------------------------------


def _rates(settings, **rates):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def test_too_many_requests_from_one_ip_get_429_with_retry_after(api_client, settings):
    _rates(settings, lead_submit_ip="2/hour")
    for n in range(2):
        assert (
            api_client.post(URL, payload(phone=f"+1202555010{n}"), format="json").status_code == 201
        )

    response = api_client.post(URL, payload(phone="+12025550109"), format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 3600


def test_past_the_per_phone_limit_the_answer_is_the_same_and_no_text_is_sent(
    api_client, settings, sms_outbox
):
    _rates(settings, lead_submit_phone="2/hour")
    for n in range(2):
        response = api_client.post(
            URL, payload(email=f"m{n}@example.org"), format="json", REMOTE_ADDR=f"198.51.100.{n}"
        )
        assert response.status_code == 201
    sms_outbox.clear()
    mail.outbox.clear()

    response = api_client.post(
        URL, payload(email="m9@example.org"), format="json", REMOTE_ADDR="198.51.100.9"
    )

    assert response.status_code == 201
    assert set(response.json()) == {"reference", "status", "callback_window", "next_contact"}
    limited = Submission.objects.get(reference=response.json()["reference"])
    assert (limited.phone_limited, limited.email_limited) == (True, False)
    assert limited.lead is not None  # stored and routed, never lost
    assert sms_outbox == []
    # The address it gave gets its email, as it would whatever the phone's traffic.
    assert [message.to for message in mail.outbox] == [["m9@example.org"]]


def test_past_the_per_address_limit_the_answer_is_the_same_and_no_email_is_sent(
    api_client, settings, sms_outbox
):
    _rates(settings, lead_submit_email="1/hour")
    api_client.post(URL, payload(phone=""), format="json", REMOTE_ADDR="198.51.100.1")
    mail.outbox.clear()

    response = api_client.post(
        URL, payload(phone="+12025550188"), format="json", REMOTE_ADDR="198.51.100.2"
    )

    assert response.status_code == 201
    limited = Submission.objects.get(reference=response.json()["reference"])
    assert (limited.phone_limited, limited.email_limited) == (False, True)
    assert mail.outbox == []
    assert [message.to for message in sms_outbox] == ["+12025550188"]


def test_too_many_requests_from_one_network_get_429(api_client, settings):
    _rates(settings, lead_submit_subnet="2/hour")
    for n in range(2):
        response = api_client.post(
            URL, payload(phone=f"+1202555010{n}"), format="json", REMOTE_ADDR=f"198.51.100.{n}"
        )
        assert response.status_code == 201

    response = api_client.post(
        URL, payload(phone="+12025550109"), format="json", REMOTE_ADDR="198.51.100.77"
    )
    assert response.status_code == 429
    other = api_client.post(
        URL, payload(phone="+12025550108"), format="json", REMOTE_ADDR="198.51.101.1"
    )
    assert other.status_code == 201


def test_the_throttles_keep_no_phone_number_or_ip_in_the_cache(api_client, cache_keys):
    api_client.post(URL, payload(), format="json", REMOTE_ADDR="198.51.100.61")

    keys = cache_keys()
    assert any("lead_submit_phone" in key for key in keys)
    assert any("lead_submit_ip" in key for key in keys)
    assert not any("2025550143" in key or "198.51.100.61" in key for key in keys)
