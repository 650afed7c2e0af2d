"""Calls to an article's tracking number: recorded, forwarded, and called back."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from intake.models import Lead, Submission
from notifications.models import InboundCall
from scheduling.models import Callback, StaffAlert
from tests.factories import ArticleFactory, submit_lead

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token"
BASE = "https://clinic.example"
TRACKING = "+14755550123"
CALLER = "+12025550180"


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_FORWARD_NUMBER = "+14753292686"


@pytest.fixture
def article():
    return ArticleFactory(slug="ketamine-explained", tracking_number=TRACKING)


def signed_post(client, path: str, params: dict[str, str]):
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def call(client, capture, sid: str = "CA" + "1" * 32, caller: str = CALLER):
    with capture(execute=True):
        return signed_post(
            client, "/webhooks/twilio/voice/", {"CallSid": sid, "From": caller, "To": TRACKING}
        )


def dial_ended(client, capture, status: str, sid: str = "CA" + "1" * 32):
    with capture(execute=True):
        return signed_post(
            client, "/webhooks/twilio/voice/dial/", {"CallSid": sid, "DialCallStatus": status}
        )


def test_a_call_is_forwarded_to_the_clinic_line(
    client, article, django_capture_on_commit_callbacks
):
    response = call(client, django_capture_on_commit_callbacks)

    assert response.status_code == 200
    twiml = response.content.decode()
    assert "<Dial" in twiml and "<Number>+14753292686</Number>" in twiml
    assert 'action="https://clinic.example/webhooks/twilio/voice/dial/"' in twiml


def test_an_unsigned_call_is_refused(client, article):
    response = client.post("/webhooks/twilio/voice/", {"CallSid": "CA1", "From": CALLER})
    assert response.status_code == 403
    assert InboundCall.objects.count() == 0


def test_a_call_counts_as_a_request_from_the_numbers_article(
    client, article, django_capture_on_commit_callbacks
):
    call(client, django_capture_on_commit_callbacks)

    submission = Submission.objects.get()
    assert submission.source == Submission.Source.PHONE
    assert submission.article == article
    assert str(submission.lead.phone) == CALLER
    assert Callback.objects.filter(lead=submission.lead, status="open").exists()
    assert not submission.consents.filter(granted=True).exists()


def test_twilio_retrying_the_webhook_records_the_call_once(
    client, article, django_capture_on_commit_callbacks
):
    call(client, django_capture_on_commit_callbacks)
    call(client, django_capture_on_commit_callbacks)

    assert InboundCall.objects.count() == 1
    assert Submission.objects.count() == 1


def test_a_known_person_calling_attaches_to_their_lead_without_a_second_callback(
    client, article, route, django_capture_on_commit_callbacks
):
    route(submit_lead(first_name="Maria", phone=CALLER))

    call(client, django_capture_on_commit_callbacks)

    lead = Lead.objects.get()
    assert lead.submissions.count() == 2
    assert lead.needs_review is False
    assert Callback.objects.filter(lead=lead).count() == 1


def test_an_unanswered_forward_makes_the_callback_urgent_and_alerts_a_supervisor(
    client, article, django_capture_on_commit_callbacks
):
    call(client, django_capture_on_commit_callbacks)

    response = dial_ended(client, django_capture_on_commit_callbacks, "no-answer")

    assert "<Say>" in response.content.decode() and "9 8 8" in response.content.decode()
    callback = Callback.objects.get()
    assert callback.is_urgent is True
    assert StaffAlert.objects.filter(
        callback=callback, kind="urgent", audience="supervisor"
    ).exists()
    assert InboundCall.objects.get().forward == InboundCall.Forward.MISSED


def test_an_answered_forward_leaves_the_queue_alone(
    client, article, django_capture_on_commit_callbacks
):
    call(client, django_capture_on_commit_callbacks)
    dial_ended(client, django_capture_on_commit_callbacks, "completed")

    assert Callback.objects.get().is_urgent is False
    assert InboundCall.objects.get().forward == InboundCall.Forward.ANSWERED


def test_a_withheld_number_is_counted_but_cannot_be_called_back(
    client, article, django_capture_on_commit_callbacks
):
    call(client, django_capture_on_commit_callbacks, caller="anonymous")

    assert InboundCall.objects.count() == 1
    assert Submission.objects.count() == 0
