"""The voice transport (notifications.voice) through the real ``twilio`` client
against the fake Twilio's Calls and Recordings API (tests/fake_twilio_voice.py),
and its console and in-memory stand-ins. Nothing here leaves 127.0.0.1."""

from __future__ import annotations

import io
import logging
import re
import wave

import pytest

from notifications.backends import TransportError
from notifications.voice import (
    CallRequest,
    ConsoleVoiceBackend,
    LocmemVoiceBackend,
    Recording,
    TwilioVoiceBackend,
    voice_backend,
)
from tests.fake_twilio import FakeTwilio

COORDINATOR = "+12025550101"
CALLER_ID = "+14753292686"
ANSWER_URL = "https://clinic.example/webhooks/twilio/calls/7/answer/"
STATUS_URL = "https://clinic.example/webhooks/twilio/calls/7/status/coordinator/"


def request(**overrides: object) -> CallRequest:
    values: dict[str, object] = {
        "to": COORDINATOR,
        "caller_id": CALLER_ID,
        "url": ANSWER_URL,
        "status_callback": STATUS_URL,
        "timeout": 25,
    }
    values.update(overrides)
    return CallRequest(**values)  # type: ignore[arg-type]


def answered(fake: FakeTwilio, sid: str) -> None:
    """Twilio's side: the call was picked up (no webhooks, only the fake's state)."""
    call = fake.voice.call(sid)
    call.status = "in-progress"


# Calls -----------------------------------------------------------------------------


def test_a_call_reaches_twilio_with_the_number_caller_id_webhooks_and_options(
    fake_twilio: FakeTwilio,
):
    sid = TwilioVoiceBackend().call_create(
        request(machine_detection="DetectMessageEnd", record=True, time_limit=3600)
    )

    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)
    (create,) = fake_twilio.voice.creates
    assert create.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Calls.json"
    assert create.form == {
        "To": COORDINATOR,
        "From": CALLER_ID,
        "Url": ANSWER_URL,
        "StatusCallback": STATUS_URL,
        "StatusCallbackEvent": "completed",
        "Timeout": "25",
        "MachineDetection": "DetectMessageEnd",
        "Record": "true",
        "TimeLimit": "3600",
    }
    # Every event, not the last value only: the client repeats the parameter.
    assert create.form_lists["StatusCallbackEvent"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]
    call = fake_twilio.voice.call(sid)
    assert (call.to, call.from_, call.status, call.record) == (
        COORDINATOR,
        CALLER_ID,
        "queued",
        True,
    )


def test_a_fetch_reports_the_call_as_twilio_has_it(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request())
    assert backend.call_fetch(sid).status == "queued"

    call = fake_twilio.voice.call(sid)
    call.status, call.duration, call.answered_by = "completed", 95, "human"
    state = backend.call_fetch(sid)

    assert (state.provider_id, state.status, state.duration_seconds) == (sid, "completed", 95)
    assert state.answered_by == "human"
    assert state.ended


def test_ending_a_ringing_call_cancels_it_and_ending_it_again_changes_nothing(
    fake_twilio: FakeTwilio,
):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request())

    assert backend.call_update(sid, status="completed").status == "canceled"
    assert backend.call_update(sid, status="completed").status == "canceled"
    (first, second) = fake_twilio.voice.updates
    assert first.form == second.form == {"Status": "completed"}


def test_ending_an_answered_call_completes_it_and_canceling_leaves_it_alone(
    fake_twilio: FakeTwilio,
):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request())
    answered(fake_twilio, sid)

    assert backend.call_update(sid, status="canceled").status == "in-progress"
    state = backend.call_update(sid, status="completed")

    assert state.status == "completed"
    assert state.duration_seconds == 0


def test_an_answered_call_can_be_redirected_to_other_twiml(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request())
    answered(fake_twilio, sid)

    backend.call_update(sid, url="https://clinic.example/webhooks/twilio/calls/7/taken/")
    backend.call_update(sid, twiml="<Response><Hangup/></Response>")

    assert fake_twilio.voice.call(sid).redirects == [
        {"Url": "https://clinic.example/webhooks/twilio/calls/7/taken/", "Twiml": ""},
        {"Url": "", "Twiml": "<Response><Hangup/></Response>"},
    ]


def test_redirecting_a_call_not_in_progress_is_a_permanent_error(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request())

    with pytest.raises(TransportError) as caught:
        backend.call_update(sid, url="https://clinic.example/elsewhere/")

    assert (caught.value.code, caught.value.permanent) == ("21220", True)


def test_an_update_must_say_exactly_one_thing(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    with pytest.raises(ValueError):
        backend.call_update("CA" + "0" * 32)
    with pytest.raises(ValueError):
        backend.call_update("CA" + "0" * 32, status="completed", url="https://clinic.example/")
    with pytest.raises(ValueError):
        backend.call_update("CA" + "0" * 32, status="busy")
    assert fake_twilio.voice.requests == []


def test_an_unknown_call_is_a_permanent_error(fake_twilio: FakeTwilio):
    with pytest.raises(TransportError) as caught:
        TwilioVoiceBackend().call_fetch("CA" + "0" * 32)
    assert (caught.value.code, caught.value.permanent) == ("20404", True)


@pytest.mark.parametrize(
    ("to", "caller_id", "code"),
    [("2025550101", CALLER_ID, "21211"), (COORDINATOR, "clinic", "21212")],
)
def test_a_malformed_number_is_a_permanent_error(fake_twilio, to, caller_id, code):
    with pytest.raises(TransportError) as caught:
        TwilioVoiceBackend().call_create(request(to=to, caller_id=caller_id))
    assert (caught.value.code, caught.value.permanent) == (code, True)
    assert fake_twilio.voice.calls == []


def test_twilio_failing_or_throttling_is_a_transient_error(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    fake_twilio.voice.fail_next(status=503, code=20503)
    with pytest.raises(TransportError) as caught:
        backend.call_create(request())
    assert (caught.value.code, caught.value.permanent) == ("20503", False)

    fake_twilio.fault("429", retry_after=7)
    with pytest.raises(TransportError) as throttled:
        backend.call_create(request())
    assert (throttled.value.permanent, throttled.value.retry_after) == (False, 7.0)
    fake_twilio.fault("")

    assert backend.call_create(request()).startswith("CA")


def test_twilio_unreachable_is_a_transient_network_error(fake_twilio, settings):
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(TransportError) as caught:
        TwilioVoiceBackend().call_create(request())
    assert (caught.value.code, caught.value.permanent) == ("network", False)


def test_the_fake_refuses_a_call_that_names_no_twiml_or_a_wrong_event(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    with pytest.raises(TransportError) as no_url:
        backend.call_create(request(url=""))
    assert no_url.value.code == "21205"
    with pytest.raises(ValueError):
        request(status_events=("picked-up",))


def test_a_wrong_auth_token_is_refused(fake_twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"
    with pytest.raises(TransportError) as caught:
        TwilioVoiceBackend().call_create(request())
    assert (caught.value.code, caught.value.permanent) == ("20003", True)


# Recordings ---------------------------------------------------------------------------


def test_a_recorded_call_lists_its_recordings(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request(record=True))
    other = backend.call_create(request())
    recording_sid = fake_twilio.voice.add_recording(sid, duration=95)
    fake_twilio.voice.add_recording(other, duration=10)

    (recording,) = backend.call_recordings(sid)

    assert recording == Recording(
        provider_id=recording_sid,
        call_id=sid,
        duration_seconds=95,
        created_at=recording.created_at,
    )
    assert recording.created_at is not None


def test_a_recording_is_fetched_as_mp3_or_wav_bytes(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request(record=True))
    recording_sid = fake_twilio.voice.add_recording(sid)

    mp3 = backend.recording_fetch(recording_sid)
    wav = backend.recording_fetch(recording_sid, media_format="wav")

    assert mp3.content_type == "audio/mpeg"
    assert mp3.content.startswith(b"ID3") and recording_sid.encode() in mp3.content
    assert wav.content_type == "audio/x-wav"
    with wave.open(io.BytesIO(wav.content)) as audio:
        assert (audio.getnchannels(), audio.getframerate()) == (1, 8000)
    paths = [r.path for r in fake_twilio.voice.requests if r.method == "GET"]
    assert paths[-2:] == [
        f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Recordings/{recording_sid}.mp3",
        f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Recordings/{recording_sid}.wav",
    ]
    # Through HTTP Basic auth with the account's credentials, like every API call.
    assert all(r.headers["Authorization"].startswith("Basic ") for r in fake_twilio.requests)


def test_a_deleted_recording_is_gone_and_deleting_it_again_is_not_an_error(
    fake_twilio: FakeTwilio,
):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request(record=True))
    recording_sid = fake_twilio.voice.add_recording(sid)

    assert backend.recording_delete(recording_sid) is True
    assert backend.recording_delete(recording_sid) is False

    assert fake_twilio.voice.deleted_recordings == {recording_sid}
    assert backend.call_recordings(sid) == []
    with pytest.raises(TransportError) as caught:
        backend.recording_fetch(recording_sid)
    assert (caught.value.code, caught.value.permanent) == ("20404", True)


def test_a_recording_fetch_while_twilio_is_down_is_transient(fake_twilio: FakeTwilio):
    backend = TwilioVoiceBackend()
    sid = backend.call_create(request(record=True))
    recording_sid = fake_twilio.voice.add_recording(sid)
    fake_twilio.fault("503", retry_after=3)

    with pytest.raises(TransportError) as caught:
        backend.recording_fetch(recording_sid)

    assert (caught.value.permanent, caught.value.retry_after) == (False, 3.0)


def test_only_mp3_and_wav_are_fetched(fake_twilio: FakeTwilio):
    with pytest.raises(ValueError):
        TwilioVoiceBackend().recording_fetch("RE" + "0" * 32, media_format="ogg")


# The backend in use, the console and in-memory ones ------------------------------------


def test_voice_backend_is_the_one_the_setting_names(settings, fake_twilio):
    assert isinstance(voice_backend(), TwilioVoiceBackend)
    settings.VOICE_BACKEND = "console"
    assert isinstance(voice_backend(), ConsoleVoiceBackend)
    settings.VOICE_BACKEND = "locmem"
    assert isinstance(voice_backend(), LocmemVoiceBackend)


def test_the_console_backend_logs_call_ids_and_never_a_number(caplog):
    caplog.set_level(logging.INFO, logger="notifications.voice")
    backend = ConsoleVoiceBackend()

    provider_id = backend.call_create(request())
    backend.call_update(provider_id, status="completed")

    assert provider_id.startswith("console-call-")
    assert [record.getMessage() for record in caplog.records] == [
        "voice.console.call_create",
        "voice.console.call_update",
    ]
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert provider_id in logged
    assert COORDINATOR not in logged and CALLER_ID not in logged
    assert backend.call_recordings(provider_id) == []
    with pytest.raises(TransportError):
        backend.recording_fetch("RE1")


def test_the_locmem_backend_keeps_calls_and_raises_the_failures_it_is_given():
    backend = LocmemVoiceBackend()
    LocmemVoiceBackend.failures.append(TransportError("down", permanent=False))
    with pytest.raises(TransportError):
        backend.call_create(request())

    provider_id = backend.call_create(request())

    assert LocmemVoiceBackend.sent_to(COORDINATOR) == [request()]
    assert backend.call_update(provider_id, status="completed").status == "canceled"
    with pytest.raises(TransportError):
        backend.call_fetch("CA-unknown")
    LocmemVoiceBackend.recordings["RE1"] = (Recording("RE1", provider_id, 5), b"audio")
    assert backend.recording_fetch("RE1").content == b"audio"
    assert backend.recording_delete("RE1") is True
    assert backend.recording_delete("RE1") is False
