"""A bridged call played end to end against the app's webhooks by the fake Twilio's
driver (tests/fake_twilio_driver.py): placed through the real ``twilio`` client, the
member of staff's phone rings first, presses 1, the TwiML dials the person from the
clinic's caller ID, and every status callback (repeated, late, out of order) is
recorded once and never backwards. The person's number never reaches the member of
staff's leg, nor theirs the person's."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.apps import apps
from django.test import Client
from twilio.request_validator import RequestValidator

from notifications.voice import CallRequest, voice_backend
from scheduling.models import Call, Callback, CallLeg
from scheduling.services import calls
from tests.factories import submit_lead
from tests.fake_twilio import FakeTwilio

pytestmark = pytest.mark.django_db

BASE = "https://clinic.example"
PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"
CLINIC_ID = "+14753292686"
DISCREET_ID = "+14753290000"


@pytest.fixture(autouse=True)
def _phone(settings, fake_twilio):
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.DISCREET_CALLER_ID = DISCREET_ID
    settings.CLINIC_NAME = "Sterling Institute"
    settings.CALL_RECORDING = False


@pytest.fixture
def callback_for(route):
    def make(**lead):
        values = {"first_name": "Dana", "phone": PERSON, **lead}
        submission = submit_lead(**values)
        # Outside a test transaction the worker already routed it (eager tasks).
        return route(submission) or Callback.objects.get(submission=submission)

    return make


def place(callback, user, *, kind: str = Call.Kind.CLICK_TO_CALL) -> tuple[Call, str]:
    """What click-to-call will do: store the call, place it, keep the provider's id."""
    call = calls.call_create(callback_id=callback.pk, coordinator_id=user.pk, kind=kind)
    hooks = calls.call_webhooks(call_id=call.pk)
    sid = voice_backend().call_create(
        CallRequest(
            to=STAFF_PHONE,
            caller_id=CLINIC_ID,
            url=hooks.answer,
            status_callback=hooks.staff_status,
            timeout=25,
        )
    )
    calls.call_provider_id_set(call_id=call.pk, provider_id=sid)
    return call, sid


def xml(element: ET.Element) -> str:
    return ET.tostring(element).decode()


def said(element: ET.Element) -> list[str]:
    return [say.text or "" for say in element.iter("Say")]


def leg(call: Call, role: str) -> CallLeg:
    return CallLeg.objects.get(call=call, role=role)


def exchanges(fake: FakeTwilio, sid: str) -> str:
    """Everything said to and by one call leg's webhooks, as one text."""
    return " ".join(
        f"{hook.params} {hook.body}" for hook in fake.voice.webhooks if hook.call_sid == sid
    )


# The whole call ----------------------------------------------------------------------


def test_a_click_to_call_rings_staff_first_then_dials_the_person_from_the_clinics_number(
    fake_twilio, client, callback_for, coordinator
):
    call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)

    (create,) = fake_twilio.voice.creates
    assert (create.form["To"], create.form["From"]) == (STAFF_PHONE, CLINIC_ID)
    assert str(call.pk) in create.form["Url"] and PERSON not in str(create.form)

    staff.ring()
    prompt = staff.answer()
    assert prompt.find("Gather").get("numDigits") == "1"
    # Until the key, nothing about the person reaches the member of staff's phone.
    assert PERSON not in exchanges(fake_twilio, sid) and "Dana" not in xml(prompt)

    bridge = staff.press("1")
    dial = bridge.find("Dial")
    assert dial.get("callerId") == CLINIC_ID
    assert dial.find("Number").text == PERSON

    person = staff.dial()
    assert (person.call.to, person.call.from_) == (PERSON, CLINIC_ID)
    person.ring()
    assert list(person.answer(answered_by="human")) == []
    person.complete(duration=95)
    assert said(staff.document) == ["The call has ended. Goodbye."]
    staff.complete(duration=110)

    # The member of staff's number never went to the person's side, nor the person's
    # number to the member of staff's phone as a caller ID.
    assert STAFF_PHONE not in exchanges(fake_twilio, person.sid)
    assert fake_twilio.voice.call(sid).from_ == CLINIC_ID
    staff_leg, person_leg = leg(call, "coordinator"), leg(call, "person")
    assert (staff_leg.provider_id, staff_leg.status, staff_leg.duration_seconds) == (
        sid,
        "completed",
        110,
    )
    assert (person_leg.provider_id, person_leg.status, person_leg.duration_seconds) == (
        person.sid,
        "completed",
        95,
    )
    assert person_leg.answered_by == "human"
    assert person_leg.initiated_at <= person_leg.ringing_at <= person_leg.answered_at
    assert person_leg.answered_at <= person_leg.ended_at
    call.refresh_from_db()
    assert call.ended_at is not None


def test_the_person_who_asked_for_discretion_sees_the_discreet_number(
    fake_twilio, client, callback_for, coordinator
):
    callback = callback_for(contact_preferences={"mention_clinic_ok": False})
    _call, sid = place(callback, coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()

    dial = staff.press("1").find("Dial")

    assert dial.get("callerId") == DISCREET_ID
    assert staff.dial().call.from_ == DISCREET_ID


def test_without_a_discreet_caller_id_a_discreet_person_is_not_dialled(
    fake_twilio, client, callback_for, coordinator, settings
):
    settings.DISCREET_CALLER_ID = ""
    callback = callback_for(contact_preferences={"mention_clinic_ok": False})
    _call, sid = place(callback, coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()

    answer = staff.press("1")

    assert answer.find("Dial") is None and answer[-1].tag == "Hangup"
    assert "no discreet caller ID" in said(answer)[0]
    assert PERSON not in xml(answer)


@pytest.mark.parametrize("digits", ["2", "*", ""])
def test_any_other_key_connects_no_one(fake_twilio, client, callback_for, coordinator, digits):
    _call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()

    answer = staff.press(digits)

    assert answer.find("Dial") is None and answer[-1].tag == "Hangup"
    assert PERSON not in exchanges(fake_twilio, sid)


def test_no_key_at_all_ends_the_call_without_dialling(
    fake_twilio, client, callback_for, coordinator
):
    _call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()

    assert [verb.tag for verb in staff.silence()] == ["Say", "Hangup"]


# Voicemail ---------------------------------------------------------------------------


def _to_the_persons_machine(fake_twilio, client, callback, user, answered_by="machine_end_beep"):
    _call, sid = place(callback, user)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()
    staff.press("1")
    person = staff.dial()
    person.ring()
    return person, person.answer(answered_by=answered_by)


def test_a_voicemail_is_left_where_the_person_allows_it(
    fake_twilio, client, callback_for, coordinator
):
    callback = callback_for(contact_preferences={"voicemail_ok": True})

    _person, answer = _to_the_persons_machine(fake_twilio, client, callback, coordinator)

    (message,) = said(answer)
    assert message.startswith("Hello, this is Sterling Institute calling you back.")
    assert answer[-1].tag == "Hangup"
    assert "Dana" not in message


def test_the_discreet_voicemail_names_no_clinic(fake_twilio, client, callback_for, coordinator):
    callback = callback_for(contact_preferences={"voicemail_ok": True, "mention_clinic_ok": False})

    person, answer = _to_the_persons_machine(fake_twilio, client, callback, coordinator)

    (message,) = said(answer)
    assert message.startswith("Hello, this is your care team calling you back.")
    assert "Sterling" not in exchanges(fake_twilio, person.sid)


def test_a_machine_is_hung_up_on_where_the_person_allows_no_voicemail(
    fake_twilio, client, callback_for, coordinator
):
    callback = callback_for(contact_preferences={"voicemail_ok": False})

    _person, answer = _to_the_persons_machine(fake_twilio, client, callback, coordinator)

    assert [verb.tag for verb in answer] == ["Hangup"]


# Recording ---------------------------------------------------------------------------


def test_a_recorded_call_warns_both_parties_and_twilio_keeps_the_recording(
    fake_twilio, client, callback_for, coordinator, settings
):
    settings.CALL_RECORDING = True
    call, sid = place(callback_for(), coordinator)
    settings.CALL_RECORDING = False  # the call keeps what was true when it was placed
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()

    bridge = staff.press("1")
    assert said(bridge) == ["This call will be recorded."]
    assert bridge.find("Dial").get("record") == "record-from-answer-dual"
    person = staff.dial()
    person.ring()
    assert said(person.answer(answered_by="human")) == ["This call will be recorded."]
    person.complete(duration=95)

    (recording,) = voice_backend().call_recordings(sid)
    assert recording.duration_seconds == 95
    assert call.recorded is True


# Who may ask for TwiML ---------------------------------------------------------------


def test_a_webhook_without_a_valid_signature_is_refused(
    fake_twilio, client, callback_for, coordinator
):
    call, sid = place(callback_for(), coordinator)
    path = f"/webhooks/twilio/calls/{call.pk}/connect/"
    params = {"CallSid": sid, "Digits": "1"}

    unsigned = client.post(path, params)
    forged = client.post(
        path,
        params,
        HTTP_X_TWILIO_SIGNATURE=RequestValidator("guess").compute_signature(BASE + path, params),
    )

    assert unsigned.status_code == forged.status_code == 403
    assert PERSON not in unsigned.content.decode() + forged.content.decode()


def _signed(client, fake_twilio, path: str, params: dict[str, str]):
    signature = RequestValidator(fake_twilio.auth_token).compute_signature(BASE + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_a_webhook_for_an_unknown_or_ended_call_only_hangs_up(
    fake_twilio, client, callback_for, coordinator
):
    call, sid = place(callback_for(), coordinator)
    unknown = _signed(
        client,
        fake_twilio,
        "/webhooks/twilio/calls/987654/connect/",
        {"CallSid": sid, "Digits": "1"},
    )
    calls.call_end(call_id=call.pk)
    ended = _signed(
        client,
        fake_twilio,
        f"/webhooks/twilio/calls/{call.pk}/connect/",
        {"CallSid": sid, "Digits": "1"},
    )

    for response in (unknown, ended):
        assert response.status_code == 200
        root = ET.fromstring(response.content)  # noqa: S314
        assert root.find("Dial") is None and root[-1].tag == "Hangup"
        assert PERSON not in response.content.decode()


def test_a_webhook_from_another_call_leg_only_hangs_up(
    fake_twilio, client, callback_for, coordinator
):
    call, _sid = place(callback_for(), coordinator)

    response = _signed(
        client,
        fake_twilio,
        f"/webhooks/twilio/calls/{call.pk}/connect/",
        {"CallSid": "CA" + "9" * 32, "Digits": "1"},
    )

    assert b"<Dial" not in response.content and PERSON.encode() not in response.content


def test_a_closed_request_is_not_dialled(fake_twilio, client, callback_for, coordinator):
    callback = callback_for()
    _call, sid = place(callback, coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()
    callback.status = callback.Status.CANCELLED
    callback.save(update_fields=["status"])

    answer = staff.press("1")

    assert answer.find("Dial") is None
    assert said(answer)[0].startswith("This request is closed.")


# Status callbacks --------------------------------------------------------------------


def events_of(leg_row: CallLeg) -> int:
    """Changes of a leg on the audit trail: one per callback that changed something."""
    return (
        apps.get_model("scheduling", "CallLegEvent").objects.filter(pgh_obj_id=leg_row.pk).count()
    )


def test_repeated_status_callbacks_change_nothing(fake_twilio, client, callback_for, coordinator):
    call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    once = events_of(leg(call, "coordinator"))

    staff.repeat = 3
    staff.no_answer()

    status_posts = [hook for hook in fake_twilio.voice.webhooks if hook.kind == "status"]
    assert len(status_posts) == 2 + 3
    assert all(hook.status_code == 204 for hook in status_posts)
    assert leg(call, "coordinator").status == "no-answer"
    assert events_of(leg(call, "coordinator")) == once + 1


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_out_of_order_status_callbacks_never_move_a_leg_backwards(
    fake_twilio, client, callback_for, coordinator, order
):
    call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)

    with staff.held(order=order, seed=3):
        staff.ring()
        staff.answer()
        staff.complete(duration=40)

    sequence = [
        int(hook.params["SequenceNumber"])
        for hook in fake_twilio.voice.webhooks
        if hook.kind == "status"
    ]
    assert sorted(sequence) == [0, 1, 2, 3] and sequence != [0, 1, 2, 3]
    staff_leg = leg(call, "coordinator")
    assert (staff_leg.status, staff_leg.duration_seconds) == ("completed", 40)
    # Every moment is known, in Twilio's order, whatever order they came in.
    assert staff_leg.initiated_at <= staff_leg.ringing_at <= staff_leg.answered_at
    assert staff_leg.answered_at <= staff_leg.ended_at


def test_a_late_ringing_after_completed_leaves_it_completed(
    fake_twilio, client, callback_for, coordinator
):
    call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)

    with staff.held(order=[2, 0, 1]):
        staff.ring()
        staff.busy()

    assert leg(call, "coordinator").status == "busy"
    assert leg(call, "coordinator").ringing_at is not None


def test_a_status_callback_the_app_failed_is_delivered_again(
    fake_twilio, callback_for, coordinator, monkeypatch
):
    call, sid = place(callback_for(), coordinator)
    real = calls.call_leg_status_record
    failures = [RuntimeError("database hiccup")]

    def flaky(**kwargs):
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(calls, "call_leg_status_record", flaky)
    staff = fake_twilio.voice.drive(sid, client=Client(raise_request_exception=False))
    staff.retries = 2

    staff.ring()

    codes = [hook.status_code for hook in fake_twilio.voice.webhooks]
    assert codes == [500, 204, 204]
    assert leg(call, "coordinator").status == "ringing"


def test_the_staff_leg_ending_ends_the_call_and_its_late_webhooks_only_hang_up(
    fake_twilio, client, callback_for, coordinator
):
    call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.busy()

    call.refresh_from_db()
    assert call.ended_at is not None
    late = staff.answer()
    assert late.find("Gather") is None and late[-1].tag == "Hangup"


def test_status_callbacks_store_the_call_id_when_they_arrive_before_it(
    fake_twilio, client, callback_for, coordinator
):
    call = calls.call_create(
        callback_id=callback_for().pk, coordinator_id=coordinator.pk, kind=Call.Kind.CLICK_TO_CALL
    )
    hooks = calls.call_webhooks(call_id=call.pk)
    sid = voice_backend().call_create(
        CallRequest(
            to=STAFF_PHONE,
            caller_id=CLINIC_ID,
            url=hooks.answer,
            status_callback=hooks.staff_status,
        )
    )
    fake_twilio.voice.drive(sid, client=client).ring()

    assert leg(call, "coordinator").provider_id == sid
    assert calls.call_provider_id_set(call_id=call.pk, provider_id=sid) is True
    assert calls.call_provider_id_set(call_id=call.pk, provider_id="CA" + "1" * 32) is False


def test_a_call_the_app_hung_up_is_reported_canceled(
    fake_twilio, client, callback_for, coordinator
):
    call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()

    voice_backend().call_update(sid, status="completed")
    staff.report_end()

    assert leg(call, "coordinator").status == "canceled"


def test_a_status_callback_for_an_unknown_call_changes_nothing(fake_twilio, client):
    response = _signed(
        client,
        fake_twilio,
        "/webhooks/twilio/calls/987654/status/coordinator/",
        {"CallSid": "CA" + "2" * 32, "CallStatus": "completed"},
    )
    assert response.status_code == 204
    assert not CallLeg.objects.exists()


def test_a_status_callback_naming_another_legs_id_changes_nothing(
    fake_twilio, client, callback_for, coordinator
):
    call, sid = place(callback_for(), coordinator)

    _signed(
        client,
        fake_twilio,
        f"/webhooks/twilio/calls/{call.pk}/status/coordinator/",
        {"CallSid": "CA" + "3" * 32, "CallStatus": "completed"},
    )
    _signed(
        client,
        fake_twilio,
        f"/webhooks/twilio/calls/{call.pk}/status/person/",
        {"CallSid": sid, "CallStatus": "completed"},
    )

    assert leg(call, "coordinator").status == "queued"
    assert not CallLeg.objects.filter(call=call, role="person", status="completed").exists()


@pytest.mark.django_db(transaction=True)
def test_the_driver_reaches_a_live_server_over_http(
    fake_twilio, live_server, settings, callback_for, coordinator
):
    settings.PUBLIC_BASE_URL = live_server.url
    call, sid = place(callback_for(), coordinator)
    staff = fake_twilio.voice.drive(sid, base_url=live_server.url)

    staff.ring()
    prompt = staff.answer()

    assert prompt.find("Gather") is not None
    assert [hook.status_code for hook in fake_twilio.voice.webhooks] == [204, 204, 204, 200]
    assert leg(call, "coordinator").status == "in-progress"
