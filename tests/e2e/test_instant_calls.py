"""An instant call end to end: a lead POSTed during opening hours, a real worker on
Redis routing it and placing the call through the real ``twilio`` client to the fake
Twilio, and the fake's driver playing Twilio's side over HTTP against a live server."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from intake.models import Lead, Submission
from scheduling.models import Call, Callback, CallLeg, InstantCallRound
from tests.e2e.conftest import CLINIC_CALLER_ID, staff_with_phone, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"


def test_a_call_preferred_lead_rings_the_available_coordinator_and_is_bridged(
    phone_worker, fake_twilio, live_server
):
    worker = phone_worker
    coordinator = staff_with_phone(username="e2e-instant", phone=STAFF_PHONE, available=True)
    posted = time.monotonic()
    response = APIClient().post(
        "/api/v1/leads/",
        {"first_name": "Dana", "phone": PERSON, "preferred_channel": "call"},
        format="json",
    )
    assert response.status_code == 201

    def staff_rung() -> bool:
        return any(call.to == STAFF_PHONE for call in fake_twilio.voice.calls)

    assert wait_for(staff_rung, timeout=5), worker.log()[-3000:]
    rang_after = time.monotonic() - posted
    (staff_call,) = fake_twilio.voice.calls
    assert (staff_call.from_, staff_call.timeout) == (CLINIC_CALLER_ID, 25)

    staff = fake_twilio.voice.drive(staff_call.sid, base_url=live_server.url)
    staff.ring()
    prompt = staff.answer()
    assert prompt.find("Gather") is not None
    bridge = staff.press("1")
    assert [say.text for say in bridge.iter("Say")] == ["New request from Dana."]
    dial = bridge.find("Dial")
    assert dial.get("callerId") == CLINIC_CALLER_ID
    assert dial.find("Number").text == PERSON
    person = staff.dial()
    assert (person.call.to, person.call.from_) == (PERSON, CLINIC_CALLER_ID)
    person.ring()
    person.answer(answered_by="human")
    person.complete(duration=95)
    staff.complete(duration=110)

    submission = Submission.objects.get(reference=response.json()["reference"])
    callback = Callback.objects.get(lead_id=submission.lead_id)
    call = Call.objects.get(callback=callback)
    assert (call.kind, call.coordinator) == (Call.Kind.INSTANT, coordinator)
    assert call.ended_at is not None
    person_leg = call.legs.get(role=CallLeg.Role.PERSON)
    assert (person_leg.status, person_leg.duration_seconds) == ("completed", 95)
    assert person_leg.answered_by == "human" and person_leg.answered_at is not None
    staff_leg = call.legs.get(role=CallLeg.Role.COORDINATOR)
    assert (staff_leg.status, staff_leg.duration_seconds) == ("completed", 110)
    # The coordinator who pressed 1 holds the callback; the speed-to-lead clock stopped
    # where it stops today, at that claim (the lead is being contacted).
    assert (callback.status, callback.claimed_by) == (Callback.Status.CLAIMED, coordinator)
    assert Lead.objects.get(pk=submission.lead_id).contacting_at is not None
    instant_round = InstantCallRound.objects.get(submission=submission)
    assert (instant_round.status, instant_round.taken_by) == ("taken", coordinator)
    assert rang_after < 5
    assert PERSON not in worker.log() and "Dana" not in worker.log()
