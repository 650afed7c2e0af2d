"""Click-to-call end to end: a claimed callback, ``POST /api/v1/callbacks/{id}/call/``,
a real worker on Redis placing the call through the real ``twilio`` client to the fake
Twilio, the fake's driver playing Twilio's side over HTTP against a live server, and
the call logging its one attempt by itself."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from intake.models import Lead, Submission
from scheduling import services
from scheduling.models import Call, CallAttempt, Callback
from tests.e2e.conftest import CLINIC_CALLER_ID, staff_with_phone, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"


def test_a_click_to_call_rings_the_holder_bridges_the_person_and_logs_itself(
    phone_worker, fake_twilio, live_server
):
    worker = phone_worker
    coordinator = staff_with_phone(username="e2e-click-to-call", phone=STAFF_PHONE)
    response = APIClient().post(
        "/api/v1/leads/",
        {"first_name": "Dana", "phone": PERSON, "preferred_channel": "call"},
        format="json",
    )
    assert response.status_code == 201
    submission = Submission.objects.get(reference=response.json()["reference"])
    assert wait_for(lambda: Callback.objects.filter(submission=submission).exists(), timeout=10), (
        worker.log()[-3000:]
    )
    callback = services.callback_claim_next(user_id=coordinator.pk)
    assert callback is not None and callback.submission_id == submission.pk
    api = APIClient()
    api.force_authenticate(coordinator)

    posted = time.monotonic()
    placed = api.post(f"/api/v1/callbacks/{callback.pk}/call/")

    assert placed.status_code == 202, placed.content
    assert placed.json()["status"] == "ringing"

    def staff_rung() -> bool:
        return any(call.to == STAFF_PHONE for call in fake_twilio.voice.calls)

    assert wait_for(staff_rung, timeout=5), worker.log()[-3000:]
    assert time.monotonic() - posted < 5
    (staff_call,) = fake_twilio.voice.calls
    assert staff_call.from_ == CLINIC_CALLER_ID and PERSON not in str(staff_call.as_json("AC"))
    # The provider's id is stored once the worker placed it (the driver's webhooks
    # name that leg).
    call = Call.objects.get(pk=placed.json()["call"])
    assert wait_for(lambda: call.legs.filter(provider_id=staff_call.sid).exists(), timeout=5), (
        worker.log()[-3000:]
    )

    staff = fake_twilio.voice.drive(staff_call.sid, base_url=live_server.url)
    staff.ring()
    assert staff.answer().find("Gather") is not None
    dial = staff.press("1").find("Dial")
    assert (dial.get("callerId"), dial.find("Number").text) == (CLINIC_CALLER_ID, PERSON)
    person = staff.dial()
    assert (person.call.to, person.call.from_) == (PERSON, CLINIC_CALLER_ID)
    person.ring()
    person.answer(answered_by="human")
    person.complete(duration=95)
    staff.complete(duration=110)

    (attempt,) = CallAttempt.objects.filter(callback=callback)
    assert (attempt.call_id, attempt.result, attempt.duration_seconds) == (call.pk, "connected", 95)
    assert attempt.answered_at is not None and attempt.outcome == ""
    callback.refresh_from_db()
    assert (callback.status, callback.claimed_by) == (Callback.Status.CLAIMED, coordinator)
    assert Lead.objects.get(pk=callback.lead_id).contacting_at is not None
    assert PERSON not in worker.log() and "Dana" not in worker.log()
