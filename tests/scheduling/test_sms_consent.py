"""A stranger's form grants no consent to text (issue 20, item 2).

Consent to text a number is the most restrictive answer given for that number: once
any request declined texts, or the number opted out, a later ``sms_consent: true``
from a form does not allow texting it; only the phone itself does (START, or YES to
the one "reply YES to get texts" message a coordinator may send). Every sender of a
text to a person obeys the same rule: the confirmation, the console, the missed-call
text. Each test is named for the attack it stops."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from phonenumber_field.phonenumber import to_python

from clinic.errors import ApplicationError
from intake.models import Lead, Submission
from intake.services import lead_submit_call
from notifications import services as notification_services
from notifications.models import Message
from notifications.wording import sms_segments, wording_problems
from scheduling.models import Callback
from scheduling.services import (
    attempt_log,
    callback_claim_next,
    lead_refusal_lift,
    lead_sms_reply,
)
from tests.scheduling.public_form import EMAIL, PHONE, URL, form_body, form_poster
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

LATER = timedelta(days=2)  # past the one-confirmation-a-day limit


@pytest.fixture(autouse=True)
def _daytime(settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "23:59", "00:00"


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    """POST the form as a stranger's browser would; returns the stored submission."""
    poster = form_poster(api_client, django_capture_on_commit_callbacks)
    return lambda **overrides: poster(**overrides)[1]


@pytest.fixture
def declined(post, sms_outbox):
    """Maria asked for a call and said no to texts."""
    submission = post(sms_consent=False)
    assert sms_outbox == []
    mail.outbox.clear()
    return Lead.objects.get(pk=Submission.objects.get(pk=submission.pk).lead_id)


@pytest.fixture
def later():
    with time_machine.travel(timezone.now() + LATER):
        yield


def texts_to(outbox, phone=PHONE):
    return [text for text in outbox if text.to == phone]


def callback_of(lead) -> Callback:
    return Callback.objects.get(lead_id=lead.pk, status__in=["open", "claimed"])


def inbound(body, *, sid, phone=PHONE):
    return notification_services.inbound_receive(provider_id=sid, sender=phone, body=body)


def without_link(text: str) -> str:
    return re.sub(r"/r/[^\s\"<]+/", "/r/T/", text)


# --- The stranger's "yes" after the person's "no" -----------------------------------------


def test_a_strangers_consent_after_a_decline_gets_no_confirmation_text(
    declined, post, later, sms_outbox
):
    post(sms_consent=True, email="stranger@example.net")

    assert texts_to(sms_outbox) == []


def test_the_strangers_own_email_is_the_same_whether_or_not_the_number_declined(
    declined, post, later, sms_outbox
):
    post(sms_consent=True, email="stranger1@example.net", first_name="Pat")
    post(sms_consent=True, phone="+12025550166", email="stranger2@example.net", first_name="Pat")

    (known,) = [m for m in mail.outbox if m.to == ["stranger1@example.net"]]
    (unknown,) = [m for m in mail.outbox if m.to == ["stranger2@example.net"]]
    assert (known.subject, without_link(known.body)) == (
        unknown.subject,
        without_link(unknown.body),
    )


def test_a_strangers_consent_after_a_decline_does_not_allow_console_texts(
    declined, post, later, coordinator
):
    post(sms_consent=True)  # the same open lead

    with pytest.raises(ApplicationError) as error:
        lead_sms_reply(callback_id=callback_of(declined).pk, user_id=coordinator.pk, body="Hello")
    assert error.value.code == "no_sms_consent"


def test_a_strangers_consent_does_not_bring_back_the_missed_call_text(
    declined, post, later, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    post(sms_consent=True)
    callback = callback_claim_next(user_id=coordinator.pk)

    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="no_answer")

    assert texts_to(sms_outbox) == []
    assert not Message.objects.filter(purpose="follow_up", channel="sms").exists()


def test_a_decline_on_an_earlier_closed_lead_still_holds_for_a_new_lead(
    declined, post, later, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    callback = callback_claim_next(user_id=coordinator.pk)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(
            callback_id=callback.pk,
            user_id=coordinator.pk,
            outcome="not_interested",
            confirm="not_interested",
        )

    submission = post(sms_consent=True)
    lead = Lead.objects.get(pk=Submission.objects.get(pk=submission.pk).lead_id)

    assert lead.pk != declined.pk
    assert texts_to(sms_outbox) == []
    with pytest.raises(ApplicationError):
        lead_sms_reply(callback_id=callback_of(lead).pk, user_id=coordinator.pk, body="Hello")


def test_after_a_refusal_is_lifted_a_forms_consent_still_does_not_restart_texts(
    post, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    post(sms_consent=True)
    callback = callback_claim_next(user_id=coordinator.pk)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(
            callback_id=callback.pk,
            user_id=coordinator.pk,
            outcome="do_not_contact",
            confirm="do_not_contact",
        )
    sms_outbox.clear()
    with time_machine.travel(timezone.now() + LATER):
        submission = post(sms_consent=True, email="other@example.net")
        lead = Lead.objects.get(pk=Submission.objects.get(pk=submission.pk).lead_id)
        lead_refusal_lift(
            callback_id=callback_of(lead).pk, user_id=coordinator.pk, note="Asked us to call"
        )
    with time_machine.travel(timezone.now() + 2 * LATER):
        post(sms_consent=True, email="other@example.net")

    assert texts_to(sms_outbox) == []


def test_a_phone_call_to_the_clinic_is_not_a_decline(post, coordinator, sms_outbox, route):
    call = lead_submit_call(
        caller=to_python(PHONE),
        article_id=None,
        idempotency_key="call:CA1",
    )
    route(call.submission)

    post(sms_consent=True)

    assert len(texts_to(sms_outbox)) == 1


# --- Only the phone itself says yes ----------------------------------------------------------


def test_start_from_the_phone_allows_texts_again_after_a_decline(
    declined, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    inbound("START", sid="SM-start")

    with django_capture_on_commit_callbacks(execute=True):
        lead_sms_reply(callback_id=callback_of(declined).pk, user_id=coordinator.pk, body="Hello")

    assert [text.body for text in texts_to(sms_outbox)] == ["Hello"]


def test_a_decline_after_start_stops_texts_again(
    declined, post, later, coordinator, django_capture_on_commit_callbacks
):
    inbound("START", sid="SM-start")
    with django_capture_on_commit_callbacks(execute=True):
        lead_sms_reply(callback_id=callback_of(declined).pk, user_id=coordinator.pk, body="Hi")
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        post(sms_consent=False)

        with pytest.raises(ApplicationError):
            lead_sms_reply(
                callback_id=callback_of(declined).pk, user_id=coordinator.pk, body="Hello"
            )


def test_the_coordinators_invite_goes_once_and_the_phones_yes_allows_texts(
    declined, coordinator, client, django_capture_on_commit_callbacks, sms_outbox
):
    callback = callback_of(declined)
    verified_login(client, coordinator)
    page = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    assert "reply YES" in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/console/callbacks/{callback.pk}/sms-consent-invite/")
        again = client.post(f"/console/callbacks/{callback.pk}/sms-consent-invite/")

    (invite,) = texts_to(sms_outbox)
    assert "reply YES" in invite.body.replace("Reply YES", "reply YES")
    assert again.status_code == 400
    with pytest.raises(ApplicationError):
        lead_sms_reply(callback_id=callback.pk, user_id=coordinator.pk, body="Hello")

    inbound("yes", sid="SM-yes")

    with django_capture_on_commit_callbacks(execute=True):
        lead_sms_reply(callback_id=callback.pk, user_id=coordinator.pk, body="Hello")
    assert texts_to(sms_outbox)[-1].body == "Hello"


def test_the_invite_names_nobody_fits_one_segment_and_names_no_health_information(
    declined, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    from scheduling.services import lead_sms_consent_invite

    with django_capture_on_commit_callbacks(execute=True):
        lead_sms_consent_invite(callback_id=callback_of(declined).pk, user_id=coordinator.pk)

    (invite,) = texts_to(sms_outbox)
    assert "Maria" not in invite.body
    assert sms_segments(invite.body)[1] == 1
    assert wording_problems(invite.body) == []
    assert "STOP" in invite.body


def test_the_invite_never_goes_to_a_number_that_texted_stop(declined, coordinator, sms_outbox):
    from scheduling.services import lead_sms_consent_invite

    inbound("STOP", sid="SM-stop")

    with pytest.raises(ApplicationError) as error:
        lead_sms_consent_invite(callback_id=callback_of(declined).pk, user_id=coordinator.pk)
    assert error.value.code == "opted_out"
    assert sms_outbox == []


def test_the_invite_never_goes_to_a_refused_number(
    declined, post, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    from scheduling.services import callback_refusal_acknowledge, lead_sms_consent_invite

    callback = callback_claim_next(user_id=coordinator.pk)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(
            callback_id=callback.pk,
            user_id=coordinator.pk,
            outcome="do_not_contact",
            confirm="do_not_contact",
        )
    with time_machine.travel(timezone.now() + LATER):
        submission = post(sms_consent=False, email="other@example.net")
    lead = Lead.objects.get(pk=Submission.objects.get(pk=submission.pk).lead_id)
    callback_refusal_acknowledge(callback_id=callback_of(lead).pk, user_id=coordinator.pk)

    with pytest.raises(ApplicationError) as error:
        lead_sms_consent_invite(callback_id=callback_of(lead).pk, user_id=coordinator.pk)
    assert error.value.code == "refused"
    assert sms_outbox == []


def test_the_invite_is_for_care_staff_only_never_a_form(declined, client, api_client, marketer):
    callback = callback_of(declined)

    anonymous = client.post(f"/console/callbacks/{callback.pk}/sms-consent-invite/")
    verified_login(client, marketer)
    marketing = client.post(f"/console/callbacks/{callback.pk}/sms-consent-invite/")
    form_field = api_client.post(URL, form_body(sms_consent_invite=True), format="json")

    assert anonymous.status_code == 302 and marketing.status_code == 403
    assert form_field.status_code == 201
    assert not Message.objects.filter(template="sms_consent_invite").exists()


def test_a_confirmation_follows_the_one_rule_too(declined, later, sms_outbox, route):
    """Consent given again on the phone: the next request is confirmed by text."""
    from tests.factories import submit_lead

    inbound("START", sid="SM-start")
    route(submit_lead(phone=PHONE, email=EMAIL, sms_consent=True))

    assert len(texts_to(sms_outbox)) == 1


def test_the_invite_to_a_person_in_crisis_carries_988_and_911(
    post, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    from scheduling.services import lead_sms_consent_invite

    submission = post(sms_consent=False, in_crisis=True)
    lead = Lead.objects.get(pk=Submission.objects.get(pk=submission.pk).lead_id)
    sms_outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        lead_sms_consent_invite(callback_id=callback_of(lead).pk, user_id=coordinator.pk)

    (invite,) = texts_to(sms_outbox)
    assert "988" in invite.body and "911" in invite.body
    assert "reply YES" in invite.body and "soon" not in invite.body.lower()
    assert sms_segments(invite.body)[1] <= 2
    assert wording_problems(invite.body) == []
