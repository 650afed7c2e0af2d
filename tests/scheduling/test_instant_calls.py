"""Instant calls for new requests (scheduling.services.instant_calls): while the clinic
is open, a new request from someone who asked for a call rings every available
coordinator's confirmed phone at once through the fake Twilio's Calls API; the first
to press 1 hears the first name, takes the callback's claim and is bridged to the
person; the others' calls are ended; nobody in time leaves the callback in the queue.
Each call is played by the fake's driver, posting signed webhooks in Twilio's order."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from intake.models import Lead
from notifications.refusals import refusal_record
from notifications.voice import CallRequest, voice_backend
from scheduling import services
from scheduling.models import Call, Callback, InstantCallRound, StaffCallSettings
from scheduling.services import calls, instant_calls
from tests.factories import UserFactory, submit_lead
from tests.fake_twilio import FakeTwilio

pytestmark = pytest.mark.django_db

BASE = "https://clinic.example"
PERSON = "+12025550143"
CLINIC_ID = "+14753292686"
COORDINATOR_PHONES = ("+12025550101", "+12025550102", "+12025550103")
SUPERVISOR_PHONE = "+12025550109"
NEW_YORK = ZoneInfo("America/New_York")
TUESDAY_MORNING = datetime(2026, 3, 3, 10, 0, tzinfo=NEW_YORK)
SUNDAY_MORNING = datetime(2026, 3, 1, 10, 0, tzinfo=NEW_YORK)
TUESDAY_NIGHT = datetime(2026, 3, 3, 22, 0, tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def _phone(settings, fake_twilio, clinic_in_new_york, weekday_hours):
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.DISCREET_CALLER_ID = "+14753290000"
    settings.CALL_RECORDING = False
    settings.INSTANT_CALL_RING_SECONDS = 25


@pytest.fixture
def clock():
    """Tuesday 10:00 in New York: the clinic is open (8:00 to 20:00 on weekdays)."""
    with time_machine.travel(TUESDAY_MORNING, tick=False) as traveller:
        yield traveller


def staff_member(name: str, phone: str, *, role: str = "coordinator", available: bool = True):
    """A member of staff with a confirmed phone, taking instant calls or not."""
    user = UserFactory(username=name)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    StaffCallSettings.objects.create(
        user=user,
        phone=phone,
        phone_hash=phone_hash(phone),
        verified_at=timezone.now(),
        available=available,
        available_since=timezone.now() if available else None,
    )
    return user


@pytest.fixture
def coordinators(clock):
    return [
        staff_member(f"coordinator-{index}", phone)
        for index, phone in enumerate(COORDINATOR_PHONES[:2])
    ]


@pytest.fixture
def new_request(route):
    """A request through the form, routed as the worker routes it (its after-commit
    work, the instant call's task among it, run inline)."""

    def make(**values):
        submission = submit_lead(**{"first_name": "Dana", "phone": PERSON, **values})
        route(submission)
        submission.refresh_from_db()
        return submission

    return make


def rung(fake: FakeTwilio) -> dict[str, str]:
    """The staff phones the fake was asked to ring: number -> call sid."""
    return {call.to: call.sid for call in fake.voice.calls if call.parent_sid is None}


def said(element: ET.Element) -> list[str]:
    return [say.text or "" for say in element.iter("Say")]


def ended_at_the_provider(fake: FakeTwilio) -> set[str]:
    """Calls the app asked the fake to end (Calls API update, Status=completed)."""
    return {
        request.path.rsplit("/", 1)[-1].removesuffix(".json")
        for request in fake.voice.updates
        if request.form.get("Status") == "completed"
    }


def answered(fake: FakeTwilio, client, sid: str):
    """The staff phone ``sid`` rings and is picked up: the press-1 prompt."""
    driver = fake.voice.drive(sid, client=client)
    driver.ring()
    driver.answer()
    return driver


def press_1(driver, django_capture_on_commit_callbacks) -> ET.Element:
    with django_capture_on_commit_callbacks(execute=True):
        return driver.press("1")


def the_callback(submission) -> Callback:
    return Callback.objects.get(lead_id=submission.lead_id)


# Ringing ---------------------------------------------------------------------------


def test_a_new_request_for_a_call_rings_every_available_coordinator_at_once(
    fake_twilio, coordinators, new_request
):
    staff_member("away", COORDINATOR_PHONES[2], available=False)
    staff_member("supervisor", SUPERVISOR_PHONE, role="supervisor")

    submission = new_request()

    assert set(rung(fake_twilio)) == set(COORDINATOR_PHONES[:2])
    for create in fake_twilio.voice.creates:
        assert create.form["From"] == CLINIC_ID
        assert create.form["Timeout"] == "25"
        assert "/answer/" in create.form["Url"] and create.form["Url"].startswith(BASE)
        # Nothing about the person goes to the provider with the staff call.
        assert PERSON not in str(create.form) and "Dana" not in str(create.form)
    (instant_round,) = InstantCallRound.objects.all()
    assert instant_round.status == InstantCallRound.Status.RINGING
    assert instant_round.submission_id == submission.pk
    assert instant_round.callback == the_callback(submission)
    assert {call.coordinator for call in instant_round.calls.all()} == set(coordinators)
    assert {call.kind for call in instant_round.calls.all()} == {Call.Kind.INSTANT}
    assert the_callback(submission).status == Callback.Status.OPEN


def test_the_prompt_says_a_new_request_and_nothing_about_the_person(
    fake_twilio, client, coordinators, new_request
):
    new_request(last_name="Whitfield")
    sid = rung(fake_twilio)[COORDINATOR_PHONES[0]]

    prompt = answered(fake_twilio, client, sid).document

    assert said(prompt)[0] == "New request. Press 1 to take the call."
    assert "Dana" not in ET.tostring(prompt).decode()


def test_the_first_to_press_1_hears_the_first_name_takes_the_claim_and_is_bridged(
    fake_twilio, client, coordinators, new_request, django_capture_on_commit_callbacks
):
    first, second = coordinators
    submission = new_request(last_name="Whitfield")
    phones = rung(fake_twilio)
    winner = answered(fake_twilio, client, phones[COORDINATOR_PHONES[0]])

    bridge = press_1(winner, django_capture_on_commit_callbacks)

    assert said(bridge) == ["New request from Dana."]
    heard = " ".join(f"{hook.params} {hook.body}" for hook in fake_twilio.voice.webhooks)
    assert "Whitfield" not in heard and "antidepressant" not in heard.lower()
    dial = bridge.find("Dial")
    assert dial.get("callerId") == CLINIC_ID and dial.find("Number").text == PERSON
    callback = the_callback(submission)
    assert (callback.status, callback.claimed_by) == (Callback.Status.CLAIMED, first)
    assert callback.lease_expires_at > timezone.now()
    assert Lead.objects.get(pk=submission.lead_id).stage == Lead.Stage.CONTACTING
    instant_round = InstantCallRound.objects.get()
    assert (instant_round.status, instant_round.taken_by) == (InstantCallRound.Status.TAKEN, first)
    # The other phone stops ringing: ended at the provider and for good here.
    assert ended_at_the_provider(fake_twilio) == {phones[COORDINATOR_PHONES[1]]}
    assert fake_twilio.voice.call(phones[COORDINATOR_PHONES[1]]).status == "canceled"
    assert Call.objects.get(coordinator=second).ended_at is not None
    assert Call.objects.get(coordinator=first).ended_at is None
    # The rest of the call is the bridged call's: the person answers and they talk.
    person = winner.dial()
    assert (person.call.to, person.call.from_) == (PERSON, CLINIC_ID)
    person.ring()
    person.answer(answered_by="human")
    person.complete(duration=95)
    winner.complete(duration=110)
    assert Call.objects.get(coordinator=first).legs.get(role="person").duration_seconds == 95
    # Whoever took it holds it: only they may log the outcome (issue 21).
    assert services.callback_held(callback_id=callback.pk, user_id=first.pk)
    with pytest.raises(ApplicationError):
        services.callback_held(callback_id=callback.pk, user_id=second.pk)


def test_a_second_coordinator_pressing_1_after_hears_someone_else_took_it(
    fake_twilio, client, coordinators, new_request, django_capture_on_commit_callbacks
):
    first, _second = coordinators
    submission = new_request()
    phones = rung(fake_twilio)
    winner = answered(fake_twilio, client, phones[COORDINATOR_PHONES[0]])
    loser = answered(fake_twilio, client, phones[COORDINATOR_PHONES[1]])
    press_1(winner, django_capture_on_commit_callbacks)

    answer = press_1(loser, django_capture_on_commit_callbacks)

    assert said(answer) == ["Someone else took it. Goodbye."]
    assert answer.find("Dial") is None and answer[-1].tag == "Hangup"
    assert PERSON not in ET.tostring(answer).decode()
    assert the_callback(submission).claimed_by == first
    # A late answer on the ended call only hangs up.
    late = fake_twilio.voice.drive(phones[COORDINATOR_PHONES[1]], client=client).answer()
    assert late.find("Gather") is None


def test_the_whisper_never_says_a_name_that_names_health_information(
    fake_twilio, client, coordinators, new_request, django_capture_on_commit_callbacks
):
    new_request(first_name="Anxiety")
    driver = answered(fake_twilio, client, rung(fake_twilio)[COORDINATOR_PHONES[0]])

    assert said(press_1(driver, django_capture_on_commit_callbacks)) == ["New request."]


def test_an_instant_call_of_no_round_connects_no_one(
    fake_twilio, client, coordinators, new_request, django_capture_on_commit_callbacks
):
    """Only a round's call may take a request: one made any other way is never bridged."""
    Callback.objects.all().delete()
    submission = submit_lead(first_name="Dana", phone=PERSON, preferred_channel="email")
    callback = Callback.objects.create(
        lead_id=submission.lead_id,
        submission=submission,
        due_at=timezone.now(),
        original_due_at=timezone.now(),
    )
    call = calls.call_create(
        callback_id=callback.pk, coordinator_id=coordinators[0].pk, kind=Call.Kind.INSTANT
    )
    hooks = calls.call_webhooks(call_id=call.pk)
    sid = voice_backend().call_create(
        CallRequest(to=COORDINATOR_PHONES[0], caller_id=CLINIC_ID, url=hooks.answer)
    )
    calls.call_provider_id_set(call_id=call.pk, provider_id=sid)
    driver = answered(fake_twilio, client, sid)

    answer = press_1(driver, django_capture_on_commit_callbacks)

    assert answer.find("Dial") is None
    assert said(answer) == ["This call is no longer needed. Goodbye."]
    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.OPEN


def test_any_other_key_takes_nothing(fake_twilio, client, coordinators, new_request):
    submission = new_request()
    driver = answered(fake_twilio, client, rung(fake_twilio)[COORDINATOR_PHONES[0]])

    answer = driver.press("2")

    assert answer.find("Dial") is None
    assert the_callback(submission).status == Callback.Status.OPEN
    assert InstantCallRound.objects.get().status == InstantCallRound.Status.RINGING


# Nobody in time ----------------------------------------------------------------------


def test_nobody_pressing_1_in_time_ends_every_call_and_leaves_the_callback_in_the_queue(
    fake_twilio, client, clock, coordinators, new_request, django_capture_on_commit_callbacks
):
    submission = new_request()
    before = Callback.objects.filter(pk=the_callback(submission).pk).values().get()
    phones = rung(fake_twilio)
    listening = answered(fake_twilio, client, phones[COORDINATOR_PHONES[0]])
    instant_round = InstantCallRound.objects.get()

    clock.shift(25)  # the phones stopped ringing; whoever answered may still press
    assert instant_calls.instant_round_expire(round_id=instant_round.pk) is False
    clock.shift(16)
    with django_capture_on_commit_callbacks(execute=True):
        assert instant_calls.instant_round_expire(round_id=instant_round.pk) is True

    instant_round.refresh_from_db()
    assert instant_round.status == InstantCallRound.Status.UNANSWERED
    assert ended_at_the_provider(fake_twilio) == set(phones.values())
    assert not Call.objects.filter(ended_at__isnull=True).exists()
    # The callback is as it was: open, unclaimed, due when it was due.
    assert Callback.objects.filter(pk=before["id"]).values().get() == before
    late = press_1(listening, django_capture_on_commit_callbacks)
    assert said(late) == ["Nobody took it in time: the request is back in the queue. Goodbye."]
    assert the_callback(submission).status == Callback.Status.OPEN
    assert instant_calls.instant_round_expire(round_id=instant_round.pk) is False


def test_a_request_claimed_from_the_queue_while_the_phones_ring_is_not_taken_twice(
    fake_twilio, client, coordinators, new_request, django_capture_on_commit_callbacks
):
    submission = new_request()
    phones = rung(fake_twilio)
    driver = answered(fake_twilio, client, phones[COORDINATOR_PHONES[0]])
    someone = staff_member("console-user", "+12025550188", available=False)
    claimed = services.callback_claim_next(user_id=someone.pk)
    assert claimed.pk == the_callback(submission).pk

    answer = press_1(driver, django_capture_on_commit_callbacks)

    assert said(answer) == ["Someone else took it. Goodbye."]
    assert the_callback(submission).claimed_by == someone
    assert InstantCallRound.objects.get().status == InstantCallRound.Status.WITHDRAWN
    assert ended_at_the_provider(fake_twilio) == set(phones.values())


# Who is rung, and when ---------------------------------------------------------------


def test_a_crisis_request_rings_the_available_supervisors_too(
    fake_twilio, client, coordinators, new_request
):
    staff_member("supervisor", SUPERVISOR_PHONE, role="supervisor")
    staff_member("resting-supervisor", "+12025550108", role="supervisor", available=False)

    new_request(in_crisis=True)

    assert set(rung(fake_twilio)) == {*COORDINATOR_PHONES[:2], SUPERVISOR_PHONE}
    prompt = answered(fake_twilio, client, rung(fake_twilio)[SUPERVISOR_PHONE]).document
    assert said(prompt)[0].startswith("Urgent new request.")


def test_a_coordinator_on_a_call_or_ringing_for_another_request_is_not_rung(
    fake_twilio, coordinators, new_request
):
    first, second = coordinators
    new_request()
    assert len(fake_twilio.voice.creates) == 2
    third = staff_member("on-the-phone", COORDINATOR_PHONES[2])
    calls.call_create(
        callback_id=Callback.objects.get().pk,
        coordinator_id=third.pk,
        kind=Call.Kind.CLICK_TO_CALL,
    )

    another = new_request(phone="+12025550177", first_name="Sam")

    assert len(fake_twilio.voice.creates) == 2
    assert not InstantCallRound.objects.filter(submission=another).exists()
    # Once the first round is over they are rung again.
    first_round = InstantCallRound.objects.get()
    Call.objects.filter(instant_round=first_round).update(ended_at=timezone.now())
    instant_calls.instant_call_ring(submission_id=another.pk)
    assert len(fake_twilio.voice.creates) == 4
    assert {
        c.coordinator for c in InstantCallRound.objects.get(submission=another).calls.all()
    } == {
        first,
        second,
    }


def test_a_call_that_never_told_us_it_ended_keeps_no_one_busy_after_four_hours(
    fake_twilio, clock, coordinators, new_request
):
    first, _second = coordinators
    new_request()
    Call.objects.exclude(coordinator=first).update(ended_at=timezone.now())
    InstantCallRound.objects.update(status=InstantCallRound.Status.UNANSWERED)
    # Every status callback of the first coordinator's call was lost.
    clock.shift(timedelta(hours=4, minutes=1))

    new_request(phone="+12025550177", first_name="Sam")

    assert len(fake_twilio.voice.creates) == 4
    assert Call.objects.filter(coordinator=first, ended_at__isnull=True).count() == 1


def test_a_round_whose_expiry_was_lost_keeps_no_later_request_from_ringing(
    fake_twilio, clock, coordinators, new_request
):
    new_request()
    stale = InstantCallRound.objects.get()
    Call.objects.update(ended_at=timezone.now())  # the phones stopped, as Twilio said
    clock.shift(timedelta(minutes=2))  # the expiry task never ran

    again = new_request()  # the same person asks again: the same callback

    stale.refresh_from_db()
    assert stale.status == InstantCallRound.Status.UNANSWERED
    assert InstantCallRound.objects.get(submission=again).status == "ringing"
    assert len(fake_twilio.voice.creates) == 4


def test_a_redelivered_task_rings_nobody_twice(fake_twilio, coordinators, new_request):
    from scheduling.tasks import instant_call_ring

    submission = new_request()
    assert len(fake_twilio.voice.creates) == 2

    assert instant_calls.instant_call_ring(submission_id=submission.pk) is None
    instant_call_ring.delay(submission.pk)
    Call.objects.update(ended_at=timezone.now())  # even with everyone free again
    instant_call_ring.delay(submission.pk)

    assert len(fake_twilio.voice.creates) == 2
    assert InstantCallRound.objects.count() == 1


def test_a_call_the_provider_refused_is_ended_and_the_others_still_ring(
    fake_twilio, coordinators, new_request
):
    fake_twilio.voice.fail_next(400, 21211)

    new_request()

    assert len(rung(fake_twilio)) == 1
    placed, refused = (
        Call.objects.filter(legs__provider_id__isnull=False).get(),
        Call.objects.filter(legs__provider_id__isnull=True).get(),
    )
    assert placed.ended_at is None and refused.ended_at is not None
    assert InstantCallRound.objects.get().status == InstantCallRound.Status.RINGING


def test_when_no_call_could_be_placed_the_round_ends_at_once(
    fake_twilio, coordinators, new_request
):
    fake_twilio.voice.fail_next(503, 20503, times=2)

    submission = new_request()

    assert InstantCallRound.objects.get().status == InstantCallRound.Status.UNANSWERED
    assert not Call.objects.filter(ended_at__isnull=True).exists()
    assert the_callback(submission).status == Callback.Status.OPEN


@pytest.mark.parametrize(
    "request_values",
    [
        pytest.param({"preferred_channel": "sms"}, id="asked-for-texts"),
        pytest.param({"preferred_channel": "email"}, id="asked-for-email"),
        pytest.param({"is_spam": True}, id="spam"),
        pytest.param({"best_time": "evening", "tz_name": "America/New_York"}, id="not-their-time"),
        pytest.param({"phone_limited": True}, id="past-the-per-phone-limit"),
        pytest.param({"phone": None, "email": "dana@example.org"}, id="no-phone"),
    ],
)
def test_a_request_that_may_not_be_called_now_rings_nobody(
    fake_twilio, coordinators, new_request, request_values
):
    new_request(**request_values)

    assert fake_twilio.voice.creates == []
    assert not InstantCallRound.objects.exists()


def test_a_refused_number_rings_nobody(fake_twilio, coordinators, new_request):
    refusal_record(phone=PERSON, recorded_by_id=None, source="test")

    new_request()

    assert fake_twilio.voice.creates == []


def test_a_person_who_asked_for_discretion_rings_nobody_without_a_discreet_caller_id(
    fake_twilio, settings, coordinators, new_request
):
    settings.DISCREET_CALLER_ID = ""

    new_request(contact_preferences={"mention_clinic_ok": False})

    assert fake_twilio.voice.creates == []


@pytest.mark.parametrize("moment", [SUNDAY_MORNING, TUESDAY_NIGHT], ids=["sunday", "night"])
def test_while_the_clinic_is_closed_nobody_is_rung(fake_twilio, new_request, moment):
    with time_machine.travel(moment, tick=False):
        staff_member("coordinator", COORDINATOR_PHONES[0])
        submission = new_request()

    assert fake_twilio.voice.creates == []
    assert the_callback(submission).status == Callback.Status.OPEN


def test_a_request_too_old_to_be_new_rings_nobody(fake_twilio, clock, coordinators, route):
    submission = submit_lead(first_name="Dana", phone=PERSON)
    clock.shift(timedelta(minutes=6))

    route(submission)

    assert fake_twilio.voice.creates == []


def test_a_later_form_giving_another_phone_for_a_known_person_rings_nobody(
    fake_twilio, clock, new_request
):
    # The person's request while nobody was free: queued, nobody rung.
    first = new_request(email="dana@example.org")
    staff_member("coordinator", COORDINATOR_PHONES[0])
    Callback.objects.update(status=Callback.Status.DONE)  # worked, and a new request later
    # Someone gives the person's email with another number: it is not theirs to ring.
    other = new_request(email="dana@example.org", phone="+12025550199")

    assert other.lead_id == first.lead_id
    assert fake_twilio.voice.creates == []
    # The person's own number does ring.
    new_request(email="dana@example.org")
    assert set(rung(fake_twilio)) == {COORDINATOR_PHONES[0]}


def test_the_public_post_rings_nobody_only_routing_does(
    fake_twilio, coordinators, routed_api_client
):
    body = {"first_name": "Dana", "phone": PERSON, "preferred_channel": "call"}

    # The request alone: its after-commit hand-off to the worker does not run here.
    stored_only = APIClient().post("/api/v1/leads/", body, format="json")
    assert stored_only.status_code == 201
    assert fake_twilio.voice.creates == [] and not InstantCallRound.objects.exists()

    routed = routed_api_client.post(
        "/api/v1/leads/", {**body, "phone": "+12025550144"}, format="json"
    )
    assert routed.status_code == 201
    assert set(rung(fake_twilio)) == set(COORDINATOR_PHONES[:2])
