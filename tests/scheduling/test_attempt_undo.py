"""A closing outcome (not interested, wrong number, do not contact) can be taken back
for 10 minutes by the coordinator who logged it, and by nobody else or later."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from intake.models import Lead
from intake.selectors import sms_permission
from notifications.models import OptOut, Refusal
from notifications.selectors import contact_refused
from notifications.services import inbound_receive
from scheduling.models import CallAttempt, CallAttemptEvent, Callback, StaffAlert
from scheduling.services import attempt_log, attempt_undo, callback_claim_next
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db

PHONE = "+12025550170"
CLOSING = ["not_interested", "wrong_number", "do_not_contact"]


@pytest.fixture
def closed(route, coordinator, django_capture_on_commit_callbacks):
    """``closed(outcome)``: a claimed callback of Dana's, closed with ``outcome``."""

    def close(outcome: str, *, alert: bool = False):
        callback = route(submit_lead(first_name="Dana", phone=PHONE))
        assert callback_claim_next(user_id=coordinator.pk).pk == callback.pk
        if alert:  # one raised while the coordinator was on the phone
            StaffAlert.objects.create(
                callback=callback,
                kind=StaffAlert.Kind.PATIENT_REPLIED,
                audience=StaffAlert.Audience.POOL,
            )
        with django_capture_on_commit_callbacks(execute=True):
            attempt = attempt_log(
                callback_id=callback.pk,
                user_id=coordinator.pk,
                outcome=outcome,
                notes="Closed it",
                confirm=outcome,
            )
        return attempt

    return close


@pytest.mark.parametrize("outcome", CLOSING)
def test_undo_restores_the_callback_the_lead_and_what_the_outcome_recorded(
    closed, coordinator, outcome, django_capture_on_commit_callbacks
):
    attempt = closed(outcome, alert=True)
    callback = Callback.objects.get(pk=attempt.callback_id)
    lead = Lead.objects.get(pk=callback.lead_id)
    assert lead.stage == Lead.Stage.CLOSED and callback.status == Callback.Status.DONE
    assert not StaffAlert.objects.filter(callback=callback, resolved_at__isnull=True).exists()
    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists() == (
        outcome == "do_not_contact"
    )

    with django_capture_on_commit_callbacks(execute=True):
        undone = attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    callback.refresh_from_db()
    lead.refresh_from_db()
    assert callback.status == Callback.Status.CLAIMED
    assert callback.claimed_by == coordinator and callback.lease_expires_at > undone.undone_at
    assert callback.result == "" and callback.closed_at is None
    assert lead.stage == Lead.Stage.CONTACTING
    assert lead.closed_at is None and lead.closed_reason == ""
    assert not OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()
    assert StaffAlert.objects.filter(callback=callback, resolved_at__isnull=True).exists()
    # The call stays on record, marked undone, and the next outcome can be logged.
    assert undone.undone_at is not None and undone.undone_by == coordinator
    assert CallAttempt.objects.get(pk=attempt.pk).notes == "Closed it"
    attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="reached")
    assert Lead.objects.get(pk=lead.pk).stage == Lead.Stage.CONTACTED


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the change trail is PostgreSQL's")
def test_the_undo_is_on_the_audit_trail(closed, coordinator):
    attempt = closed("wrong_number")

    attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    [event] = CallAttemptEvent.objects.filter(pgh_obj_id=attempt.pk, undone_at__isnull=False)
    assert event.pgh_context["action"] == "attempt.undo"
    assert event.pgh_context["attempt"] == attempt.pk
    assert event.undone_by_id == coordinator.pk


def test_undo_is_refused_after_ten_minutes(closed, coordinator):
    attempt = closed("not_interested")

    later = attempt.created_at + timedelta(minutes=10, seconds=1)
    with time_machine.travel(later), pytest.raises(ApplicationError) as error:
        attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert error.value.code == "undo_expired"
    assert Lead.objects.get(pk=attempt.callback.lead_id).stage == Lead.Stage.CLOSED
    assert CallAttempt.objects.get(pk=attempt.pk).undone_at is None


def test_undo_within_ten_minutes_works(closed, coordinator):
    attempt = closed("not_interested")

    with time_machine.travel(attempt.created_at + timedelta(minutes=9, seconds=50)):
        attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert Lead.objects.get(pk=attempt.callback.lead_id).stage == Lead.Stage.CONTACTING


def test_undo_by_another_user_is_refused(closed, supervisor):
    attempt = closed("do_not_contact")

    with pytest.raises(ApplicationError) as error:
        attempt_undo(attempt_id=attempt.pk, user_id=supervisor.pk)

    assert error.value.code == "not_yours" and error.value.status_code == 403
    assert Callback.objects.get(pk=attempt.callback_id).status == Callback.Status.DONE
    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()


def test_undo_twice_is_refused(closed, coordinator):
    attempt = closed("wrong_number")
    attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    with pytest.raises(ApplicationError) as error:
        attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert error.value.code == "not_undoable"


def test_an_outcome_that_closes_nothing_cannot_be_undone(route, coordinator):
    callback = route(submit_lead())
    callback_claim_next(user_id=coordinator.pk)
    attempt = attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="reached")

    with pytest.raises(ApplicationError) as error:
        attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert error.value.code == "not_undoable"


def test_the_persons_own_stop_stands_after_an_undo(
    closed, coordinator, django_capture_on_commit_callbacks
):
    attempt = closed("do_not_contact")
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM-stop", sender=PHONE, body="STOP")

    attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()
    assert Lead.objects.get(pk=attempt.callback.lead_id).stage == Lead.Stage.CONTACTING


def test_an_opt_out_recorded_before_the_call_stays_after_the_undo(
    closed, coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM-stop-first", sender=PHONE, body="STOP")
    attempt = closed("do_not_contact")
    # The refusal's opt-out did not take the place of the person's own STOP.
    assert OptOut.objects.get(phone_hash=phone_hash(PHONE)).source == "inbound keyword"

    attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()


def test_undo_is_refused_when_the_person_has_sent_a_newer_request(
    closed, coordinator, route, django_capture_on_commit_callbacks
):
    attempt = closed("not_interested")
    newer = route(submit_lead(first_name="Dana", phone=PHONE))
    assert newer.lead_id != attempt.callback.lead_id  # the closed lead is not reopened

    with pytest.raises(ApplicationError) as error:
        attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert error.value.code == "lead_reopened_elsewhere"
    assert Lead.objects.get(pk=attempt.callback.lead_id).stage == Lead.Stage.CLOSED
    assert Callback.objects.get(pk=attempt.callback_id).status == Callback.Status.DONE


def test_undoing_do_not_contact_takes_back_its_refusal_and_the_texts_it_stopped(
    closed, coordinator
):
    attempt = closed("do_not_contact")
    lead_id = attempt.callback.lead_id
    assert contact_refused(phone=PHONE)
    assert not sms_permission(phone=PHONE, lead_id=lead_id).allowed

    attempt_undo(attempt_id=attempt.pk, user_id=coordinator.pk)

    assert not contact_refused(phone=PHONE)
    refusals = Refusal.objects.filter(recorded_by=coordinator)
    assert refusals.count() == 2  # the phone's and the email's
    assert all(
        refusal.lift_source == Refusal.LiftSource.WITHDRAWN and refusal.lifted_by == coordinator
        for refusal in refusals
    )
    # The form's yes counts again, as it did before the mistaken outcome.
    assert sms_permission(phone=PHONE, lead_id=lead_id).allowed


def test_an_undo_never_takes_back_a_refusal_someone_else_recorded(
    closed, coordinator, route, django_capture_on_commit_callbacks
):
    earlier = closed("do_not_contact")
    Refusal.objects.filter(recorded_by=coordinator).update(recorded_by=None)
    attempt_undo(attempt_id=earlier.pk, user_id=coordinator.pk)

    assert contact_refused(phone=PHONE)
    assert not Refusal.objects.filter(lift_source=Refusal.LiftSource.WITHDRAWN).exists()
