"""Click-to-call (``POST /api/v1/callbacks/{id}/call/``, services.click_to_call): the
holder of a callback has the clinic's phone ring their own verified phone through the
real ``twilio`` client against the fake's Calls API, then, on their "1", dial the
person from the clinic's caller ID; the call logs its own attempt. Everything that may
not be called is refused with a 409 in the one error shape and places nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.crypto import phone_hash
from notifications.refusals import refusal_record
from scheduling import selectors, services
from scheduling.models import Call, CallAttempt, Callback, CallLeg, StaffCallSettings
from scheduling.services import click_to_call
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db

BASE = "https://clinic.example"
PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"
OTHER_PHONE = "+12025550102"
CLINIC_ID = "+14753292686"


@pytest.fixture(autouse=True)
def _phone(settings, fake_twilio):
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.DISCREET_CALLER_ID = "+14753290000"
    settings.CALL_RECORDING = False


def staff_member(name: str, phone: str = STAFF_PHONE, *, verified: bool = True):
    user = UserFactory(username=name)
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    StaffCallSettings.objects.create(
        user=user,
        phone=phone,
        phone_hash=phone_hash(phone),
        verified_at=timezone.now() if verified else None,
    )
    return user


@pytest.fixture
def dana():
    return staff_member("dana-coordinator")


@pytest.fixture
def held(route, dana):
    """A callback for Dana's request, claimed by the coordinator ``dana``."""

    def make(**lead):
        submission = submit_lead(**{"first_name": "Dana", "phone": PERSON, **lead})
        route(submission)
        callback = services.callback_claim_next(user_id=dana.pk)
        assert callback is not None and callback.submission_id == submission.pk
        return callback

    return make


@pytest.fixture
def call_post(django_capture_on_commit_callbacks):
    """POST the call as ``user``, running what the commit hands to the worker inline."""

    def post(user, callback_id: int):
        api = APIClient()
        api.force_authenticate(user)
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(f"/api/v1/callbacks/{callback_id}/call/")

    return post


def staff_sid(call_id: int) -> str:
    return CallLeg.objects.get(call_id=call_id, role=CallLeg.Role.COORDINATOR).provider_id


def test_the_holder_is_rung_first_then_the_person_from_the_clinics_number(
    fake_twilio, client, held, dana, call_post
):
    callback = held()

    response = call_post(dana, callback.pk)

    assert response.status_code == 202
    call = Call.objects.get()
    assert response.json() == {"call": str(call.pk), "status": "ringing"}
    assert (call.kind, call.coordinator_id, call.callback_id) == (
        "click_to_call",
        dana.pk,
        callback.pk,
    )
    (create,) = fake_twilio.voice.creates
    assert (create.form["To"], create.form["From"]) == (STAFF_PHONE, CLINIC_ID)
    assert PERSON not in str(create.form)
    staff = fake_twilio.voice.drive(staff_sid(call.pk), client=client)
    staff.ring()
    staff.answer()
    dial = staff.press("1").find("Dial")
    assert (dial.get("callerId"), dial.find("Number").text) == (CLINIC_ID, PERSON)
    person = staff.dial()
    person.ring()
    person.answer(answered_by="human")
    person.complete(duration=95)
    staff.complete(duration=110)

    (attempt,) = CallAttempt.objects.filter(callback=callback)
    assert (attempt.call_id, attempt.result, attempt.duration_seconds) == (call.pk, "connected", 95)
    assert attempt.outcome == ""  # the coordinator adds it
    callback.refresh_from_db()
    assert (callback.status, callback.claimed_by_id) == (Callback.Status.CLAIMED, dana.pk)


def test_the_call_shows_how_it_goes_to_the_one_who_placed_it(
    fake_twilio, client, held, dana, call_post
):
    call_id = call_post(dana, held().pk).json()["call"]
    api = APIClient()
    api.force_authenticate(dana)

    def progress():
        return api.get(f"/api/v1/calls/{call_id}/").json()

    staff = fake_twilio.voice.drive(staff_sid(int(call_id)), client=client)
    assert progress()["status"] == "ringing"
    staff.ring()
    staff.answer()
    assert progress()["status"] == "connecting"
    staff.press("1")
    person = staff.dial()
    person.ring()
    assert progress()["status"] == "dialling"
    person.answer(answered_by="human")
    assert progress()["status"] == "connected"
    person.complete(duration=40)
    staff.complete(duration=50)
    assert progress() == {
        "call": call_id,
        "status": "ended",
        "label": "Call ended: connected.",
        "result": "connected",
        "ended": True,
    }
    stranger = APIClient()
    stranger.force_authenticate(staff_member("someone-else", OTHER_PHONE))
    assert stranger.get(f"/api/v1/calls/{call_id}/").status_code == 404


def _refused(response, code: str, fake_twilio) -> None:
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == code and body["message"]
    assert not Call.objects.exists()
    assert fake_twilio.voice.creates == []


def test_a_callback_someone_else_holds_is_not_called(fake_twilio, held, call_post):
    callback = held()
    other = staff_member("other-coordinator", OTHER_PHONE)

    _refused(call_post(other, callback.pk), "not_holder", fake_twilio)


def test_a_callback_nobody_holds_is_not_called(fake_twilio, route, dana, call_post):
    submission = submit_lead(first_name="Dana", phone=PERSON)
    callback = route(submission) or Callback.objects.get(submission=submission)

    _refused(call_post(dana, callback.pk), "not_holder", fake_twilio)


def test_an_unverified_phone_is_not_rung(fake_twilio, held, dana, call_post):
    callback = held()
    StaffCallSettings.objects.filter(user=dana).update(verified_at=None)

    _refused(call_post(dana, callback.pk), "phone_unverified", fake_twilio)


def test_without_the_clinics_caller_id_nothing_is_placed(
    fake_twilio, held, dana, call_post, settings
):
    callback = held()
    settings.CLINIC_CALLER_ID = ""

    _refused(call_post(dana, callback.pk), "caller_id_missing", fake_twilio)


def test_a_person_who_refused_contact_is_not_called_even_once_acknowledged(
    fake_twilio, held, dana, call_post
):
    callback = held()
    refusal_record(phone=PERSON, recorded_by_id=None, source="test")

    _refused(call_post(dana, callback.pk), "refusal_unacknowledged", fake_twilio)
    services.callback_refusal_acknowledge(callback_id=callback.pk, user_id=dana.pk)
    _refused(call_post(dana, callback.pk), "refused", fake_twilio)


def test_a_discreet_person_without_a_discreet_caller_id_is_not_called(
    fake_twilio, held, dana, call_post, settings
):
    callback = held(contact_preferences={"mention_clinic_ok": False})
    settings.DISCREET_CALLER_ID = ""

    _refused(call_post(dana, callback.pk), "no_caller_id", fake_twilio)


def test_a_second_press_while_the_first_call_is_live_places_nothing(
    fake_twilio, held, dana, call_post
):
    callback = held()
    assert call_post(dana, callback.pk).status_code == 202

    again = call_post(dana, callback.pk)

    assert again.status_code == 409 and again.json()["code"] == "call_in_progress"
    assert Call.objects.count() == 1 and len(fake_twilio.voice.creates) == 1


def test_once_the_call_ended_the_holder_may_call_again(fake_twilio, client, held, dana, call_post):
    callback = held()
    first = call_post(dana, callback.pk).json()["call"]
    staff = fake_twilio.voice.drive(staff_sid(int(first)), client=client)
    staff.ring()
    staff.no_answer()

    again = call_post(dana, callback.pk)

    assert again.status_code == 202 and again.json()["call"] != first
    assert not CallAttempt.objects.exists()  # the person was never dialled


def test_a_call_the_provider_refuses_fails_and_leaves_the_callback_as_it_was(
    fake_twilio, held, dana, call_post
):
    callback = held()
    fake_twilio.voice.fail_next(status=400, code=21211)

    response = call_post(dana, callback.pk)

    assert response.status_code == 202
    call = Call.objects.get()
    assert call.ended_at is not None
    assert CallLeg.objects.get(call=call).status == CallLeg.Status.FAILED
    callback.refresh_from_db()
    assert (callback.status, callback.claimed_by_id) == (Callback.Status.CLAIMED, dana.pk)
    assert callback.unanswered_attempts == 0 and not CallAttempt.objects.exists()
    api = APIClient()
    api.force_authenticate(dana)
    assert api.get(f"/api/v1/calls/{call.pk}/").json()["status"] == "failed"
    # The coordinator is free to try again at once.
    assert call_post(dana, callback.pk).status_code == 202


def test_a_call_never_heard_of_again_no_longer_holds_its_coordinator(
    fake_twilio, held, dana, call_post
):
    callback = held()
    call_post(dana, callback.pk)
    Call.objects.update(created_at=timezone.now() - selectors.CALL_UNHEARD_AFTER)

    assert call_post(dana, callback.pk).status_code == 202
    assert Call.objects.filter(ended_at__isnull=True).count() == 1


def test_a_placed_call_is_not_placed_twice_by_a_redelivered_task(
    fake_twilio, held, dana, call_post
):
    call_id = int(call_post(dana, held().pk).json()["call"])

    assert click_to_call.call_place(call_id=call_id) is False
    assert len(fake_twilio.voice.creates) == 1


def test_the_api_requires_care_staff(fake_twilio, held, call_post):
    callback = held()
    api = APIClient()

    assert api.post(f"/api/v1/callbacks/{callback.pk}/call/").status_code in (401, 403)
    assert not Call.objects.exists()
