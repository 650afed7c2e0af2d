from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from clinic.crypto import phone_hash
from intake.models import Submission
from notifications.models import Message, OptOut
from scheduling.models import Callback
from scheduling.tasks import submissions_sweep
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


def test_it_queues_one_callback_and_both_confirmations(sms_outbox, route):
    submission = submit_lead(first_name="Jo")

    callback = route(submission)

    assert callback.lead_id == submission.lead_id
    assert callback.status == Callback.Status.OPEN
    assert callback.due_at >= submission.created_at
    assert [sms.to for sms in sms_outbox] == [str(submission.lead.phone)]
    assert "Jo" not in sms_outbox[0].body  # to a number nobody verified: no name
    assert mail.outbox[0].to == [submission.lead.email]
    assert mail.outbox[0].subject == "We received your request"
    submission.refresh_from_db()
    assert submission.processed_at is not None


def test_running_it_again_sends_nothing_more(sms_outbox, route):
    submission = submit_lead()
    route(submission)

    assert route(submission) is None

    assert Callback.objects.count() == 1
    assert Message.objects.count() == 2
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1


def test_a_second_submission_by_the_same_person_makes_no_second_callback(route):
    first = submit_lead(phone="+12025550101", email="same@example.org")
    second = submit_lead(phone="+12025550101", email="same@example.org", first_name="Maria")
    assert first.lead_id == second.lead_id

    route(first)
    route(second)

    assert Callback.objects.filter(lead_id=first.lead_id).count() == 1


def test_at_most_one_sms_confirmation_per_number_per_day(sms_outbox, route):
    first = submit_lead(phone="+12025550102")
    route(first)
    Callback.objects.update(status=Callback.Status.DONE)
    first.lead.stage = "closed"
    first.lead.save()

    second = submit_lead(phone="+12025550102")
    route(second)

    assert len(sms_outbox) == 1
    assert len(mail.outbox) == 2


def test_numbers_outside_the_allowed_countries_get_no_sms(sms_outbox, route):
    submission = submit_lead(phone="+33612345678")

    route(submission)

    assert sms_outbox == []
    assert Callback.objects.count() == 1
    assert len(mail.outbox) == 1


def test_an_opted_out_number_gets_no_sms(sms_outbox, route):
    OptOut.objects.create(
        phone="+12025550103", phone_hash=phone_hash("+12025550103"), source="inbound STOP"
    )
    submission = submit_lead(phone="+12025550103")

    route(submission)

    assert sms_outbox == []
    message = Message.objects.get(channel="sms")
    assert message.status == Message.Status.SUPPRESSED


def test_the_sweep_dispatches_submissions_whose_hand_off_was_lost(
    sms_outbox, django_capture_on_commit_callbacks
):
    # Stored, but the after-commit hand-off never ran (as when the broker is down).
    submission = submit_lead()
    assert Submission.objects.get(pk=submission.pk).processed_at is None

    with (
        time_machine.travel(timezone.now() + timedelta(minutes=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert submissions_sweep() == 1

    assert Callback.objects.filter(submission=submission).exists()
    assert len(sms_outbox) == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert submissions_sweep() == 0


def test_the_sweep_leaves_fresh_submissions_to_their_own_task():
    submit_lead()
    assert submissions_sweep() == 0
