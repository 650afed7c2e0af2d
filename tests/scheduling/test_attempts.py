from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from intake.models import Lead
from notifications.models import Message, OptOut
from scheduling.models import CallAttempt, Callback
from scheduling.services import attempt_log, callback_claim_next
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(route, coordinator, django_capture_on_commit_callbacks):
    def make(**lead_values):
        callback = route(submit_lead(**lead_values))
        claimed = callback_claim_next(user_id=coordinator.pk)
        assert claimed.pk == callback.pk
        return claimed

    return make


def log(callback, user, outcome, capture, **kwargs):
    with capture(execute=True):
        return attempt_log(callback_id=callback.pk, user_id=user.pk, outcome=outcome, **kwargs)


def test_reaching_the_lead_closes_the_callback_and_marks_them_contacted(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()

    attempt = log(
        callback,
        coordinator,
        "reached",
        django_capture_on_commit_callbacks,
        notes="Booked a call with Dr. B next week",
    )

    callback.refresh_from_db()
    assert callback.status == Callback.Status.DONE
    assert callback.result == Callback.Result.REACHED
    lead = Lead.objects.get(pk=callback.lead_id)
    assert lead.stage == Lead.Stage.CONTACTED
    assert lead.contacting_at <= lead.contacted_at
    assert attempt.notes.startswith("Booked")


def test_no_answer_retries_on_the_schedule_and_keeps_the_callbacks_place(
    claimed, coordinator, supervisor, django_capture_on_commit_callbacks, settings
):
    settings.CLINIC_HOLIDAYS_COUNTRY = ""  # no opening hours configured: always open
    callback = claimed()
    original_due = callback.original_due_at

    log(callback, coordinator, "no_answer", django_capture_on_commit_callbacks)

    callback.refresh_from_db()
    assert callback.status == Callback.Status.OPEN
    assert callback.unanswered_attempts == 1
    assert callback.original_due_at == original_due
    assert timedelta(minutes=14) < callback.retry_at - timezone.now() <= timedelta(minutes=15)
    assert callback_claim_next(user_id=supervisor.pk) is None  # not ready yet

    with time_machine.travel(callback.retry_at + timedelta(seconds=1)):
        again = callback_claim_next(user_id=supervisor.pk)
    assert again.pk == callback.pk


def test_a_missed_call_texts_we_tried_to_reach_you(
    claimed, coordinator, django_capture_on_commit_callbacks, sms_outbox, settings
):
    settings.QUIET_HOURS_START = "23:59"
    settings.QUIET_HOURS_END = "00:00"
    callback = claimed(first_name="Ana")

    log(callback, coordinator, "no_answer", django_capture_on_commit_callbacks)

    follow_up = Message.objects.get(purpose="follow_up", channel="sms")
    assert "tried to call you" in follow_up.body
    # The name came from a form and nobody confirmed it: the text greets nobody by name.
    assert "Ana" not in follow_up.body


def test_a_missed_call_text_says_when_we_will_try_again_in_the_persons_zone(
    claimed, coordinator, django_capture_on_commit_callbacks, sms_outbox, settings
):
    settings.QUIET_HOURS_START = "23:59"
    settings.QUIET_HOURS_END = "00:00"
    settings.CLINIC_HOLIDAYS_COUNTRY = ""  # no opening hours configured: always open
    settings.CALLBACK_RETRY_SCHEDULE = ["45"]
    # Wednesday 2 December 2026, 17:00 UTC: 9:00 AM in Los Angeles.
    with time_machine.travel("2026-12-02T17:00:00Z", tick=False):
        callback = claimed(tz_name="America/Los_Angeles")
        log(callback, coordinator, "no_answer", django_capture_on_commit_callbacks)

    text = Message.objects.get(purpose="follow_up", channel="sms").body
    assert "try again today at about 9:45 AM PST" in text
    assert "soon" not in text


def test_after_the_last_try_the_lead_is_unreachable_and_gets_a_final_email(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    for _ in range(3):
        log(callback, coordinator, "no_answer", django_capture_on_commit_callbacks)
        callback.refresh_from_db()
        Callback.objects.filter(pk=callback.pk).update(retry_at=None)
        assert callback_claim_next(user_id=coordinator.pk).pk == callback.pk
    log(callback, coordinator, "no_answer", django_capture_on_commit_callbacks)

    callback.refresh_from_db()
    assert callback.status == Callback.Status.DONE
    assert callback.result == Callback.Result.UNREACHABLE
    assert Lead.objects.get(pk=callback.lead_id).closed_reason == "unreachable"
    assert mail.outbox[-1].subject == "We could not reach you"


def test_call_back_later_needs_a_future_time(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    with pytest.raises(ApplicationError) as error:
        log(callback, coordinator, "call_back_later", django_capture_on_commit_callbacks)
    assert "call_back_at" in error.value.fields

    later = timezone.now() + timedelta(hours=3)
    log(
        callback,
        coordinator,
        "call_back_later",
        django_capture_on_commit_callbacks,
        call_back_at=later,
    )
    callback.refresh_from_db()
    assert callback.retry_at == later
    assert callback.status == Callback.Status.OPEN


def test_a_voicemail_is_refused_unless_the_person_allowed_it(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    with pytest.raises(ApplicationError):
        log(callback, coordinator, "voicemail", django_capture_on_commit_callbacks)
    assert CallAttempt.objects.count() == 0

    Lead.objects.filter(pk=callback.lead_id).update(voicemail_ok=True)
    log(callback, coordinator, "voicemail", django_capture_on_commit_callbacks)
    assert CallAttempt.objects.get().outcome == "voicemail"


def test_do_not_contact_closes_the_lead_and_blocks_texts(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed(phone="+12025550170")

    log(
        callback,
        coordinator,
        "do_not_contact",
        django_capture_on_commit_callbacks,
        confirm="do_not_contact",
    )

    lead = Lead.objects.get(pk=callback.lead_id)
    assert lead.stage == Lead.Stage.CLOSED
    assert OptOut.objects.filter(phone_hash=phone_hash("+12025550170")).exists()


def test_only_the_holder_may_log_a_call(claimed, supervisor, django_capture_on_commit_callbacks):
    callback = claimed()
    with pytest.raises(ApplicationError) as error:
        log(callback, supervisor, "reached", django_capture_on_commit_callbacks)
    assert error.value.code == "not_holder"
