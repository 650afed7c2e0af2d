"""Recordings of bridged calls (``CALL_RECORDING``): both parties hear a notice first,
the recording is learned of by its signed status callback (or the sweep, if that is
lost), played only through the app to the care team with every playback audited, and
deleted at Twilio after ``CALL_RECORDING_RETENTION_DAYS``. Calls are played against
the app by the fake Twilio's driver through the real ``twilio`` client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from config.celery import app as celery_app
from intake.models import LeadEvent
from intake.services.privacy import lead_erase
from notifications.voice import CallRequest, voice_backend
from scheduling import tasks
from scheduling.models import Call, Callback, CallRecording
from scheduling.services import calls, recordings
from tests.factories import submit_lead
from tests.fake_twilio_voice import recording_mp3
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

BASE = "https://clinic.example"
PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"
CLINIC_ID = "+14753292686"
NOTICE = "This call will be recorded."


@pytest.fixture(autouse=True)
def _phone(settings, fake_twilio):
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.DISCREET_CALLER_ID = ""
    settings.CALL_RECORDING = True
    settings.CALL_RECORDING_RETENTION_DAYS = 30


@pytest.fixture
def callback(route):
    submission = submit_lead(first_name="Dana", phone=PERSON)
    return route(submission) or Callback.objects.get(submission=submission)


def place(callback, user) -> tuple[Call, str]:
    """What click-to-call does: store the call, place it, keep the provider's id."""
    call = calls.call_create(
        callback_id=callback.pk, coordinator_id=user.pk, kind=Call.Kind.CLICK_TO_CALL
    )
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


def said(element: ET.Element) -> list[str]:
    return [say.text or "" for say in element.iter("Say")]


def talk(fake_twilio, client, callback, user, *, duration: int = 95):
    """A whole call: staff answers, presses 1, the person answers and they talk."""
    call, sid = place(callback, user)
    staff = fake_twilio.voice.drive(sid, client=client)
    staff.ring()
    staff.answer()
    bridge = staff.press("1")
    person = staff.dial()
    person.ring()
    answer = person.answer(answered_by="human")
    person.complete(duration=duration)
    staff.complete(duration=duration + 15)
    return call, sid, bridge, answer


def signed_post(client, path: str, params: dict[str, str], token: str):
    signature = RequestValidator(token).compute_signature(BASE + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def staff(user) -> Client:
    client = Client()
    verified_login(client, user)
    return client


def playbacks(lead_id: int) -> list[LeadEvent]:
    return list(
        LeadEvent.objects.filter(
            pgh_obj_id=lead_id, pgh_label="lead.read", pgh_context__read="call recording"
        ).order_by("pgh_id")
    )


def aged(recording: CallRecording, days: int) -> CallRecording:
    CallRecording.objects.filter(pk=recording.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )
    recording.refresh_from_db()
    return recording


# Both parties hear it ------------------------------------------------------------------


def test_both_parties_hear_the_notice_before_the_call_is_recorded(
    fake_twilio, client, callback, coordinator
):
    call, _sid, bridge, answer = talk(fake_twilio, client, callback, coordinator)

    # The member of staff hears it before the person is dialled, the person on answer.
    assert [verb.tag for verb in bridge] == ["Say", "Dial"]
    assert said(bridge) == [NOTICE]
    assert said(answer) == [NOTICE]
    dial = bridge.find("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == (
        f"{BASE}/webhooks/twilio/calls/{call.pk}/recording/"
    )
    assert dial.get("recordingStatusCallbackEvent") == "completed"


def test_without_recording_nothing_is_recorded_and_nobody_hears_a_notice(
    fake_twilio, client, callback, coordinator, settings
):
    settings.CALL_RECORDING = False

    _call, sid, bridge, answer = talk(fake_twilio, client, callback, coordinator)

    dial = bridge.find("Dial")
    assert dial.get("record") is None and dial.get("recordingStatusCallback") is None
    assert NOTICE not in said(bridge) + said(answer)
    assert voice_backend().call_recordings(sid) == []
    assert CallRecording.objects.count() == 0


# Learning of a recording ---------------------------------------------------------------


def test_the_recording_status_callback_keeps_the_recording_by_its_id(
    fake_twilio, client, callback, coordinator
):
    call, sid, _bridge, _answer = talk(fake_twilio, client, callback, coordinator)

    (at_twilio,) = fake_twilio.voice.recordings
    (hook,) = [hook for hook in fake_twilio.voice.webhooks if hook.kind == "recording"]
    assert hook.status_code == 204
    recording = CallRecording.objects.get()
    assert (recording.call, recording.provider_id, recording.duration_seconds) == (
        call,
        at_twilio.sid,
        95,
    )
    assert recording.deleted_at is None
    assert at_twilio.call_sid == sid


def test_a_repeated_recording_callback_keeps_it_once(fake_twilio, client, callback, coordinator):
    talk(fake_twilio, client, callback, coordinator)
    (hook,) = [hook for hook in fake_twilio.voice.webhooks if hook.kind == "recording"]
    path = hook.url.removeprefix(BASE)

    for _ in range(2):
        response = signed_post(client, path, hook.params, fake_twilio.auth_token)
        assert response.status_code == 204

    assert CallRecording.objects.count() == 1


def test_an_unsigned_recording_callback_is_refused(fake_twilio, client, callback, coordinator):
    call, sid = place(callback, coordinator)
    params = {
        "CallSid": sid,
        "RecordingSid": "RE" + "a" * 32,
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
    }
    path = f"/webhooks/twilio/calls/{call.pk}/recording/"

    assert client.post(path, params).status_code == 403
    assert signed_post(client, path, params, "not-our-token").status_code == 403
    assert CallRecording.objects.count() == 0


def test_a_recording_callback_naming_another_call_keeps_nothing(
    fake_twilio, client, callback, coordinator
):
    call, _sid = place(callback, coordinator)
    # One live click-to-call per coordinator: the other call was placed after this one ended.
    calls.call_end(call_id=call.pk)
    _other, other_sid = place(callback, coordinator)
    path = f"/webhooks/twilio/calls/{call.pk}/recording/"
    params = {"CallSid": other_sid, "RecordingSid": "RE" + "b" * 32}

    for status in ("completed", "in-progress"):
        response = signed_post(
            client, path, {**params, "RecordingStatus": status}, fake_twilio.auth_token
        )
        assert response.status_code == 204
    unknown = signed_post(
        client,
        "/webhooks/twilio/calls/999999/recording/",
        {**params, "RecordingStatus": "completed"},
        fake_twilio.auth_token,
    )

    assert unknown.status_code == 204
    assert CallRecording.objects.count() == 0


def test_the_sweep_finds_a_recording_whose_callback_was_lost(
    fake_twilio, client, callback, coordinator
):
    call, _sid, _bridge, _answer = talk(fake_twilio, client, callback, coordinator)
    (at_twilio,) = fake_twilio.voice.recordings
    CallRecording.objects.all().delete()  # as if the callback never arrived
    Call.objects.filter(pk=call.pk).update(ended_at=timezone.now() - timedelta(minutes=10))

    assert tasks.call_recordings_sweep.delay().get() == 1
    assert tasks.call_recordings_sweep.delay().get() == 0  # known now: not asked again

    recording = CallRecording.objects.get()
    assert (recording.call_id, recording.provider_id) == (call.pk, at_twilio.sid)
    assert recording.duration_seconds == 95


def test_the_sweep_leaves_unanswered_and_unrecorded_calls_alone(
    fake_twilio, client, callback, coordinator
):
    call, sid = place(callback, coordinator)
    staff_leg = fake_twilio.voice.drive(sid, client=client)
    staff_leg.ring()
    staff_leg.no_answer()
    Call.objects.filter(pk=call.pk).update(ended_at=timezone.now() - timedelta(minutes=10))
    listed = len(fake_twilio.voice.requests)

    assert tasks.call_recordings_sweep.delay().get() == 0
    assert len(fake_twilio.voice.requests) == listed


# Playback --------------------------------------------------------------------------


@pytest.fixture
def recording(fake_twilio, client, callback, coordinator) -> CallRecording:
    talk(fake_twilio, client, callback, coordinator)
    return CallRecording.objects.get()


def test_the_care_team_plays_the_recording_through_the_app(
    recording, coordinator, supervisor, callback
):
    for user in (coordinator, supervisor):
        response = staff(user).get(f"/console/recordings/{recording.pk}/audio/")

        assert response.status_code == 200
        assert response["Content-Type"] == "audio/mpeg"
        assert response.content == recording_mp3(recording.provider_id)
        assert "no-store" in response["Cache-Control"]
        assert "private" in response["Cache-Control"]
        assert "ETag" not in response and "Last-Modified" not in response


def test_every_playback_is_on_the_leads_audit_trail(recording, coordinator, callback):
    client = staff(coordinator)

    for _ in range(2):
        assert client.get(f"/console/recordings/{recording.pk}/audio/").status_code == 200

    first, second = playbacks(callback.lead_id)
    for read in (first, second):
        assert read.pgh_context["user"] == coordinator.pk
        assert read.pgh_context["recording"] == recording.pk
        assert read.pgh_context["callback"] == callback.pk
        assert read.pgh_context["view"] == "scheduling:console-recording-audio"
        assert recording.provider_id not in str(read.pgh_context)
    assert first.pgh_created_at <= second.pgh_created_at


@pytest.mark.parametrize("who", ["marketer", "anonymous"])
def test_no_one_outside_the_care_team_plays_it(recording, callback, marketer, who):
    client = staff(marketer) if who == "marketer" else Client()

    response = client.get(f"/console/recordings/{recording.pk}/audio/")

    assert response.status_code in (302, 403)
    if who == "anonymous":
        assert response["Location"].startswith("/accounts/login/")
    assert response.get("Content-Type", "") != "audio/mpeg"
    assert playbacks(callback.lead_id) == []


def test_an_unknown_recording_is_not_found(coordinator, fake_twilio):
    response = staff(coordinator).get("/console/recordings/424242/audio/")

    assert response.status_code == 404


def test_the_callback_page_plays_it_from_the_app_and_never_names_twilio(
    recording, coordinator, callback, fake_twilio
):
    response = staff(coordinator).get(f"/console/callbacks/{callback.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'src="/console/recordings/{recording.pk}/audio/"' in html
    assert 'preload="none"' in html  # opening the page plays (and audits) nothing
    assert "twilio.com" not in html and fake_twilio.base_url not in html
    assert recording.provider_id not in html
    assert playbacks(callback.lead_id) == []


def test_twilio_unreachable_answers_503_and_records_no_playback(
    recording, coordinator, callback, fake_twilio
):
    fake_twilio.voice.fail_next_recording(status=503, code=20503)

    response = staff(coordinator).get(f"/console/recordings/{recording.pk}/audio/")

    assert response.status_code == 503
    assert "Try again" in response.content.decode()
    assert playbacks(callback.lead_id) == []


# Retention -------------------------------------------------------------------------


def test_recordings_past_their_time_are_deleted_at_twilio(recording, fake_twilio, callback):
    aged(recording, 31)
    talk_kept = CallRecording.objects.create(
        call=recording.call,
        provider_id=fake_twilio.voice.add_recording(recording.call.legs.first().provider_id),
        created_at=timezone.now() - timedelta(days=29),
    )

    assert tasks.call_recordings_expire.delay().get() == {
        "deleted": 1,
        "transient": 0,
        "refused": 0,
    }

    recording.refresh_from_db()
    talk_kept.refresh_from_db()
    assert recording.deleted_at is not None and talk_kept.deleted_at is None
    assert recording.provider_id in fake_twilio.voice.deleted_recordings
    assert talk_kept.provider_id not in fake_twilio.voice.deleted_recordings


def test_deleting_again_asks_twilio_nothing(recording, fake_twilio):
    aged(recording, 31)
    tasks.call_recordings_expire.delay().get()
    deleted_at = CallRecording.objects.get().deleted_at
    asked = len(fake_twilio.voice.requests)

    assert tasks.call_recordings_expire.delay().get()["deleted"] == 0

    assert len(fake_twilio.voice.requests) == asked
    assert CallRecording.objects.get().deleted_at == deleted_at


def test_a_recording_already_gone_at_twilio_counts_as_deleted(recording, fake_twilio):
    aged(recording, 31)
    fake_twilio.voice.remove_recording(recording.provider_id)

    assert recordings.call_recordings_expire().deleted == 1

    recording.refresh_from_db()
    assert recording.deleted_at is not None


def test_twilio_failing_leaves_the_recording_for_the_retry(recording, fake_twilio):
    aged(recording, 31)
    fake_twilio.voice.fail_next_recording(status=500, code=20500)

    failed = recordings.call_recordings_expire()

    assert (failed.deleted, failed.transient) == (0, 1)
    assert CallRecording.objects.get().deleted_at is None
    assert recordings.call_recordings_expire().deleted == 1
    assert recording.provider_id in fake_twilio.voice.deleted_recordings


def test_the_task_asks_for_a_retry_when_twilio_failed(recording, fake_twilio):
    aged(recording, 31)
    fake_twilio.voice.fail_next_recording(status=503, code=20503)

    # Eager Celery reports the retry the worker would run a minute later.
    with pytest.raises(Retry) as retry:
        tasks.call_recordings_expire.delay()

    assert retry.value.when == tasks.RECORDING_RETRY_SECONDS
    assert CallRecording.objects.get().deleted_at is None
    assert tasks.call_recordings_expire.delay().get()["deleted"] == 1
    assert recording.provider_id in fake_twilio.voice.deleted_recordings


def test_a_batch_deletes_a_bounded_number_and_says_more_are_due(recording, fake_twilio):
    aged(recording, 40)
    leg_sid = recording.call.legs.first().provider_id
    for _ in range(2):
        CallRecording.objects.create(
            call=recording.call,
            provider_id=fake_twilio.voice.add_recording(leg_sid),
            created_at=timezone.now() - timedelta(days=35),
        )

    first = recordings.call_recordings_expire(limit=2)

    assert (first.deleted, first.more) == (2, True)
    assert CallRecording.objects.get(deleted_at__isnull=True).created_at > recording.created_at
    last = recordings.call_recordings_expire(limit=2)
    assert (last.deleted, last.more) == (1, False)


def test_a_deleted_recording_is_refused_with_the_reason(recording, coordinator, callback):
    aged(recording, 31)
    tasks.call_recordings_expire.delay().get()
    client = staff(coordinator)

    response = client.get(f"/console/recordings/{recording.pk}/audio/")
    page = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert response.status_code == 410
    assert "deleted" in response.content.decode() and "30 days" in response.content.decode()
    assert "30 days" in page and f"/console/recordings/{recording.pk}/audio/" not in page
    assert playbacks(callback.lead_id) == []


def test_a_persons_erasure_deletes_their_recordings_at_twilio_whatever_their_age(
    recording, coordinator, callback, fake_twilio, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert lead_erase(lead=callback.lead, actor=coordinator, reason="Ticket 42")
    client = staff(coordinator)

    # Not playable from the moment of erasure, before the task has run.
    refused = client.get(f"/console/recordings/{recording.pk}/audio/")
    assert refused.status_code == 410 and "erased" in refused.content.decode()
    assert tasks.call_recordings_expire.delay().get()["deleted"] == 1

    recording.refresh_from_db()
    assert recording.deleted_at is not None
    assert recording.provider_id in fake_twilio.voice.deleted_recordings
    assert "erased" in client.get(f"/console/recordings/{recording.pk}/audio/").content.decode()
    assert playbacks(callback.lead_id) == []


def test_the_retention_and_sweep_tasks_run_on_beat():
    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}

    for task in (tasks.call_recordings_expire, tasks.call_recordings_sweep):
        assert task.name in schedule
        assert task.name in celery_app.tasks


def test_the_tel_link_stays_on_the_callback_page_marked_as_the_fallback(coordinator, callback):
    html = staff(coordinator).get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert f'href="tel:{PERSON}" aria-describedby="tel-fallback"' in html
    assert "the fallback when the clinic's phone cannot call" in html
