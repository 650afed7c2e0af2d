"""Every call logs itself (services.call_log): once the person's leg of a bridged call
ends, the call's one attempt carries its result, duration, start and answer; signed
status callbacks delivered twice, retried or out of order write one attempt and never
move its result backwards; a call whose member of staff never pressed 1 dialled nobody
and logs nothing. The coordinator then only adds the outcome and notes to it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from clinic.crypto import phone_hash
from intake.models import Lead
from scheduling import services
from scheduling.models import CallAttempt, Callback, CallLeg, StaffCallSettings
from scheduling.services import undo
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db

BASE = "https://clinic.example"
PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"
CLINIC_ID = "+14753292686"


@pytest.fixture(autouse=True)
def _phone(settings, fake_twilio):
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.DISCREET_CALLER_ID = "+14753290000"
    settings.CLINIC_NAME = "Sterling Institute"
    settings.CALL_RECORDING = False


@pytest.fixture
def dana():
    user = UserFactory(username="dana-coordinator")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    StaffCallSettings.objects.create(
        user=user, phone=STAFF_PHONE, phone_hash=phone_hash(STAFF_PHONE), verified_at=timezone.now()
    )
    return user


@pytest.fixture
def api(dana):
    client = APIClient()
    client.force_authenticate(dana)
    return client


@pytest.fixture
def placed(route, dana, api, fake_twilio, client, django_capture_on_commit_callbacks):
    """A claimed callback called through the API; returns (callback, the staff leg's
    driver), its phone not yet rung."""

    def make(**lead):
        submission = submit_lead(**{"first_name": "Dana", "phone": PERSON, **lead})
        route(submission)
        callback = services.callback_claim_next(user_id=dana.pk)
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(f"/api/v1/callbacks/{callback.pk}/call/")
        assert response.status_code == 202, response.content
        sid = CallLeg.objects.get(call_id=response.json()["call"]).provider_id
        return callback, fake_twilio.voice.drive(sid, client=client)

    return make


def to_the_person(staff):
    staff.ring()
    staff.answer()
    staff.press("1")
    person = staff.dial()
    person.ring()
    return person


def the_attempt(callback) -> CallAttempt:
    (attempt,) = CallAttempt.objects.filter(callback=callback)
    return attempt


def test_a_person_who_answers_logs_a_connected_attempt_with_its_moments(placed):
    callback, staff = placed()
    person = to_the_person(staff)
    person.answer(answered_by="human")
    person.complete(duration=95)
    staff.complete(duration=100)

    attempt = the_attempt(callback)
    assert (attempt.result, attempt.duration_seconds) == ("connected", 95)
    leg = CallLeg.objects.get(call=attempt.call, role=CallLeg.Role.PERSON)
    assert attempt.started_at == leg.initiated_at and attempt.answered_at == leg.answered_at
    assert attempt.started_at <= attempt.answered_at
    assert attempt.coordinator_id == callback.claimed_by_id


@pytest.mark.parametrize(
    ("end", "result"),
    [("no_answer", "no_answer"), ("busy", "busy"), ("fail", "failed"), ("cancel", "no_answer")],
)
def test_a_person_not_reached_logs_how(placed, end, result):
    callback, staff = placed()
    person = to_the_person(staff)
    getattr(person, end)()
    staff.complete(duration=30)

    attempt = the_attempt(callback)
    assert (attempt.result, attempt.duration_seconds, attempt.answered_at) == (result, 0, None)
    assert attempt.started_at is not None


def test_a_voicemail_left_where_allowed_is_logged_as_voicemail(placed):
    callback, staff = placed(contact_preferences={"voicemail_ok": True})
    person = to_the_person(staff)
    person.answer(answered_by="machine_end_beep")
    person.complete(duration=21)
    staff.complete(duration=40)

    attempt = the_attempt(callback)
    assert (attempt.result, attempt.duration_seconds) == ("voicemail", 21)


@pytest.mark.parametrize("answered_by", ["machine_start", "fax"])
def test_a_machine_heard_before_its_greeting_ended_gets_no_message(placed, answered_by):
    callback, staff = placed(contact_preferences={"voicemail_ok": True})
    person = to_the_person(staff)
    person.answer(answered_by=answered_by)
    person.complete(duration=2)
    staff.complete(duration=20)

    assert the_attempt(callback).result == "no_answer"


def test_a_machine_hung_up_on_is_logged_as_no_answer(placed):
    callback, staff = placed(contact_preferences={"voicemail_ok": False})
    person = to_the_person(staff)
    person.answer(answered_by="machine_end_beep")
    person.complete(duration=3)
    staff.complete(duration=20)

    attempt = the_attempt(callback)
    assert (attempt.result, attempt.duration_seconds, attempt.answered_at) == ("no_answer", 0, None)


@pytest.mark.parametrize("how", ["no_key", "wrong_key", "staff_no_answer"])
def test_a_call_that_never_dialled_the_person_logs_no_attempt(placed, how):
    callback, staff = placed()
    staff.ring()
    if how == "staff_no_answer":
        staff.no_answer()
    else:
        staff.answer()
        if how == "wrong_key":
            staff.press("2")
        staff.complete(duration=12)

    assert not CallAttempt.objects.exists()
    callback.refresh_from_db()
    assert callback.unanswered_attempts == 0


def test_repeated_and_retried_callbacks_log_one_attempt(placed):
    callback, staff = placed()
    staff.repeat = 2
    staff.retries = 1
    person = to_the_person(staff)
    person.answer(answered_by="human")
    person.complete(duration=95)
    staff.complete(duration=100)

    attempt = the_attempt(callback)
    assert (attempt.result, attempt.duration_seconds) == ("connected", 95)


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_out_of_order_callbacks_log_the_same_attempt(placed, order):
    callback, staff = placed()
    staff.ring()
    staff.answer()
    staff.press("1")
    person = staff.dial()
    with person.held(order=order, seed=7):
        person.ring()
        person.answer(answered_by="human")
        person.complete(duration=95)
    staff.complete(duration=100)

    attempt = the_attempt(callback)
    leg = CallLeg.objects.get(call=attempt.call, role=CallLeg.Role.PERSON)
    assert (attempt.result, attempt.duration_seconds) == ("connected", 95)
    assert (attempt.started_at, attempt.answered_at) == (leg.initiated_at, leg.answered_at)


def _signed(client, fake_twilio, path: str, params: dict[str, str]):
    signature = RequestValidator(fake_twilio.auth_token).compute_signature(BASE + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_a_late_contrary_callback_never_moves_the_result_back(placed, client, fake_twilio):
    callback, staff = placed()
    person = to_the_person(staff)
    person.answer(answered_by="human")
    person.complete(duration=95)
    attempt = the_attempt(callback)
    path = f"/webhooks/twilio/calls/{attempt.call_id}/status/person/"

    for status in ("no-answer", "busy", "failed", "ringing"):
        response = _signed(
            client,
            fake_twilio,
            path,
            {"CallSid": person.sid, "CallStatus": status, "CallDuration": "0"},
        )
        assert response.status_code == 204

    assert the_attempt(callback).result == "connected"
    assert the_attempt(callback).duration_seconds == 95


def test_unsigned_or_unknown_call_webhooks_log_nothing(placed, client, fake_twilio):
    _callback, staff = placed()
    person = to_the_person(staff)
    call_id = CallLeg.objects.get(provider_id=staff.sid).call_id
    params = {"CallSid": person.sid, "CallStatus": "completed", "CallDuration": "95"}

    unsigned = client.post(f"/webhooks/twilio/calls/{call_id}/status/person/", params)
    unknown = _signed(client, fake_twilio, "/webhooks/twilio/calls/987654/status/person/", params)

    assert unsigned.status_code == 403 and unknown.status_code == 204
    assert not CallAttempt.objects.exists()


def test_the_attempts_list_carries_the_calls_facts(placed, api, dana):
    callback, staff = placed()
    person = to_the_person(staff)
    person.answer(answered_by="human")
    person.complete(duration=95)
    staff.complete(duration=100)

    (item,) = api.get(f"/api/v1/callbacks/{callback.pk}/attempts/").json()

    assert item["result"] == "connected" and item["duration_seconds"] == 95
    assert item["started_at"] and item["answered_at"] and item["outcome"] == ""


def test_the_coordinator_adds_the_outcome_to_the_logged_attempt(placed, api):
    callback, staff = placed()
    person = to_the_person(staff)
    person.answer(answered_by="human")
    person.complete(duration=95)
    staff.complete(duration=100)
    logged = the_attempt(callback)

    response = api.post(
        f"/api/v1/callbacks/{callback.pk}/attempts/", {"outcome": "reached", "notes": "Talked."}
    )

    assert response.status_code == 201
    attempt = the_attempt(callback)  # still one
    assert attempt.pk == logged.pk == response.json()["id"]
    assert (attempt.outcome, attempt.notes, attempt.result) == ("reached", "Talked.", "connected")
    callback.refresh_from_db()
    assert callback.status == Callback.Status.DONE


def test_no_outcome_is_chosen_for_the_coordinator(placed, api):
    callback, staff = placed()
    person = to_the_person(staff)
    person.no_answer()
    staff.complete(duration=30)

    response = api.post(f"/api/v1/callbacks/{callback.pk}/attempts/", {})

    assert response.status_code == 400 and "outcome" in response.json()["fields"]
    assert the_attempt(callback).outcome == ""
    callback.refresh_from_db()
    assert callback.unanswered_attempts == 0


def test_a_closing_outcome_on_a_logged_attempt_needs_confirming_and_can_be_undone(
    placed, api, dana
):
    callback, staff = placed()
    person = to_the_person(staff)
    person.answer(answered_by="human")
    person.complete(duration=60)
    staff.complete(duration=70)
    path = f"/api/v1/callbacks/{callback.pk}/attempts/"

    unconfirmed = api.post(path, {"outcome": "not_interested"})
    confirmed = api.post(path, {"outcome": "not_interested", "confirm": "not_interested"})

    assert unconfirmed.status_code == 400
    assert confirmed.status_code == 201
    callback.refresh_from_db()
    assert callback.lead.stage == Lead.Stage.CLOSED
    undo.attempt_undo(attempt_id=confirmed.json()["id"], user_id=dana.pk)
    callback.refresh_from_db()
    assert callback.status == Callback.Status.CLAIMED


def test_a_hand_logged_attempt_has_no_call_facts(route, dana, api):
    submission = submit_lead(first_name="Dana", phone=PERSON)
    route(submission)
    callback = services.callback_claim_next(user_id=dana.pk)

    api.post(f"/api/v1/callbacks/{callback.pk}/attempts/", {"outcome": "no_answer"})
    (item,) = api.get(f"/api/v1/callbacks/{callback.pk}/attempts/").json()

    assert item["outcome"] == "no_answer" and item["result"] == ""
    assert (item["duration_seconds"], item["started_at"], item["answered_at"]) == (None, None, None)


def test_a_later_call_gets_its_own_attempt(placed, api, dana, django_capture_on_commit_callbacks):
    callback, staff = placed()
    person = to_the_person(staff)
    person.no_answer()
    staff.complete(duration=30)
    api.post(f"/api/v1/callbacks/{callback.pk}/attempts/", {"outcome": "no_answer"})
    callback.refresh_from_db()
    # The retry is due later; the coordinator takes it back and calls again.
    Callback.objects.filter(pk=callback.pk).update(retry_at=None)
    services.callback_claim_next(user_id=dana.pk)

    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(f"/api/v1/callbacks/{callback.pk}/call/")
    assert again.status_code == 202

    assert CallAttempt.objects.filter(callback=callback).count() == 1
