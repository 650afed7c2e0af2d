"""No text a stranger typed reaches a person (issue 20, item 5).

Anyone can type any name into the public form next to someone else's phone or email.
Confirmations go to the details that form gave, which nobody verified, so they never
carry a name: not a health word in disguise (homoglyphs), not a sentence posing as a
name, not a real name either. That also keeps every confirmation within its two
SMS segments whatever the name's script. Later messages greet the person by name only
once a coordinator confirmed the name with them, and only on a detail they proved."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from intake.models import Lead, Submission
from notifications.models import Message
from notifications.wording import sms_segments
from scheduling import services
from scheduling.services.undelivered import confirmation_fallback_send
from tests.factories import submit_lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic_in_new_york")]

URL = "/api/v1/leads/"
NY = ZoneInfo("America/New_York")
CRISIS_WORDS = "I want to end my life"
# Real names in several scripts, and what a stranger types to be relayed.
REAL_NAMES = [
    "Maria",
    "Zoë",
    "José-Luis",
    "Дарья",
    "Αλέξανδρος",
    "李小龍",
    "Nguyễn",
    "Alexandria-Catherine",
    "Þórunn Ástríður",
]
STRANGERS_NAMES = [
    "K\u0435tamine",  # a Cyrillic "e": slips past the health-word check
    "\u0405ertraline",  # a Cyrillic "S"
    "Pay the fee now",  # letters and spaces only: a valid "name" that is a sentence
    "Your results are ready",
    "Call us back now",
]
# Every confirmation wording: by the channel the person chose, and a crisis.
VARIANTS = {
    "call": {"preferred_channel": "call"},
    "text": {"preferred_channel": "sms"},
    "email": {"preferred_channel": "email"},
    "crisis": {"message": CRISIS_WORDS},
    "crisis box": {"in_crisis": True},
}


def payload(first_name: str, **overrides):
    values = {
        "first_name": first_name,
        "phone": "+12025550143",
        "email": "maria.lopez@example.org",
        "sms_consent": True,
        "article": "science-behind-antidepressants",
    }
    values.update(overrides)
    return values


def lead_details_verify(**kwargs) -> None:
    from intake.services import lead_details_verify as verify  # new in issue 20

    verify(**kwargs)


def confirmation_texts(sms_outbox) -> list[str]:
    texts = [sms.body for sms in sms_outbox]
    for email in mail.outbox:
        texts += [email.subject, email.body, *(body for body, _type in email.alternatives)]
    return texts


@pytest.mark.parametrize("first_name", REAL_NAMES + STRANGERS_NAMES)
def test_a_confirmation_never_carries_the_name_a_stranger_typed(
    routed_api_client, sms_outbox, first_name
):
    response = routed_api_client.post(URL, payload(first_name), format="json")

    assert response.status_code == 201, response.content
    (sms,) = sms_outbox
    assert sms.body.startswith("Hi, this is ")
    for text in confirmation_texts(sms_outbox):
        assert first_name not in text


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("first_name", REAL_NAMES)
def test_every_confirmation_fits_two_segments_for_every_real_name(
    routed_api_client, sms_outbox, first_name, variant
):
    response = routed_api_client.post(URL, payload(first_name, **VARIANTS[variant]), format="json")

    assert response.status_code == 201, response.content
    (sms,) = sms_outbox
    assert sms_segments(sms.body)[1] <= 2, (sms_segments(sms.body), sms.body)


def test_a_known_person_and_a_stranger_get_the_same_confirmation_text(
    routed_api_client, sms_outbox
):
    with time_machine.travel(datetime(2026, 12, 1, 12, 0, tzinfo=NY), tick=False):
        routed_api_client.post(URL, payload("Maria"), format="json")
    lead = Lead.objects.get()
    lead_details_verify(lead_id=lead.pk, phone=True, name=True, by=Lead.Verification.COORDINATOR)
    sms_outbox.clear()

    with time_machine.travel(datetime(2026, 12, 3, 12, 0, tzinfo=NY), tick=False):
        for phone, email in (("+12025550143", "other@example.org"), ("+12025550166", "")):
            routed_api_client.post(URL, payload("Maria", phone=phone, email=email), format="json")

    # The number is known, verified and the name confirmed: the form still gets no name.
    known, unknown = [sms.body for sms in sms_outbox]
    assert known == unknown
    assert "Maria" not in known


@pytest.fixture
def reached_nobody(route, coordinator, django_capture_on_commit_callbacks, settings):
    """A callback whose person did not answer: the "we tried to call you" text goes."""
    settings.QUIET_HOURS_START = "23:59"
    settings.QUIET_HOURS_END = "00:00"

    def run(submission):
        callback = route(submission)
        services.callback_claim_next(user_id=coordinator.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.attempt_log(
                callback_id=callback.pk, user_id=coordinator.pk, outcome="no_answer"
            )
        return Message.objects.get(template="missed_call", channel="sms")

    return run


def test_a_follow_up_text_to_an_unverified_number_names_nobody(reached_nobody):
    text = reached_nobody(submit_lead(first_name="Pay the fee now"))

    assert "Pay" not in text.body
    assert text.body.startswith("Hi, ")


def test_a_follow_up_names_nobody_until_a_coordinator_confirms_the_name(reached_nobody):
    submission = submit_lead(first_name="Ana")
    # The number is the person's (they texted from it) but nobody confirmed the name.
    lead_details_verify(lead_id=submission.lead_id, phone=True, by=Lead.Verification.SMS_REPLY)

    text = reached_nobody(submission)

    assert "Ana" not in text.body


def test_a_confirmed_name_greets_the_person_on_a_verified_number(reached_nobody):
    submission = submit_lead(first_name="Ana")
    lead_details_verify(
        lead_id=submission.lead_id, phone=True, name=True, by=Lead.Verification.COORDINATOR
    )

    text = reached_nobody(submission)

    assert text.body.startswith("Hi Ana, ")


def test_a_confirmed_name_is_never_sent_to_an_unverified_email(
    route, coordinator, django_capture_on_commit_callbacks
):
    submission = submit_lead(first_name="Ana")
    lead_details_verify(
        lead_id=submission.lead_id, phone=True, name=True, by=Lead.Verification.COORDINATOR
    )
    callback = route(submission)
    services.callback_claim_next(user_id=coordinator.pk)
    for _ in range(4):  # every try unanswered: the final email goes to the lead's address
        with django_capture_on_commit_callbacks(execute=True):
            services.attempt_log(
                callback_id=callback.pk, user_id=coordinator.pk, outcome="no_answer"
            )
        callback.refresh_from_db()
        callback.retry_at = None
        callback.save(update_fields=["retry_at"])
        services.callback_claim_next(user_id=coordinator.pk)

    (final,) = [m for m in mail.outbox if m.subject == "We could not reach you"]
    assert "Ana" not in final.body
    assert "Ana" not in final.alternatives[0][0]


def test_the_email_after_an_undelivered_confirmation_text_names_nobody(
    route, django_capture_on_commit_callbacks
):
    submission = submit_lead(first_name="Pay the fee now")
    route(submission)
    text = Message.objects.get(channel="sms", purpose="confirmation")
    Message.objects.filter(pk=text.pk).update(status=Message.Status.FAILED, error_code="30008")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        fallback = confirmation_fallback_send(message_id=text.pk)

    assert fallback is not None
    (email,) = mail.outbox
    assert email.to == [Submission.objects.get(pk=submission.pk).email]
    for body in (email.subject, email.body, email.alternatives[0][0]):
        assert "Pay" not in body
