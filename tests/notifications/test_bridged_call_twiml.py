"""TwiML of a bridged call (notifications.bridged_call_twiml), parsed and asserted on:
the member of staff presses 1 before anything about the person is said or dialled,
the whisper says a first name only and no health word, the voicemail names no health
information (and no clinic when asked), a machine is hung up on otherwise."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from notifications import bridged_call_twiml as twiml
from notifications.wording import wording_problems

PERSON = "+12025550143"
CALLER_ID = "+14753292686"
DISCREET_ID = "+14753290000"
URLS = {
    "person_url": "https://clinic.example/webhooks/twilio/calls/7/person/",
    "person_status_url": "https://clinic.example/webhooks/twilio/calls/7/status/person/",
    "dial_ended_url": "https://clinic.example/webhooks/twilio/calls/7/dial-ended/",
}


def parse(document: str) -> ET.Element:
    root = ET.fromstring(document)  # noqa: S314 (our own output)
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter("Say")]


@pytest.fixture(autouse=True)
def _clinic(settings):
    settings.CLINIC_NAME = "Sterling Institute"
    settings.CLINIC_PHONE = "+14753292686"
    settings.DISCREET_SENDER_NAME = "your care team"
    settings.DISCREET_CALLER_ID = DISCREET_ID


@pytest.mark.parametrize(("instant", "urgent"), [(False, False), (True, False), (True, True)])
def test_the_staff_prompt_asks_for_one_key_and_says_nothing_of_the_person(instant, urgent):
    root = parse(
        twiml.staff_prompt(
            gather_url="https://clinic.example/webhooks/twilio/calls/7/connect/",
            instant=instant,
            urgent=urgent,
        )
    )

    gather, goodbye, hangup = list(root)
    assert gather.tag == "Gather"
    assert gather.attrib == {
        "numDigits": "1",
        "action": "https://clinic.example/webhooks/twilio/calls/7/connect/",
        "method": "POST",
        "timeout": str(twiml.PROMPT_WAIT_SECONDS),
    }
    (prompt,) = list(gather)
    assert prompt.get("loop") == "2" and "Press 1" in prompt.text
    assert ("Urgent" in prompt.text) is urgent
    assert (goodbye.tag, hangup.tag) == ("Say", "Hangup")
    # Nothing to dial before the key: no number, no Dial, no name.
    assert root.find(".//Dial") is None
    assert PERSON not in ET.tostring(root).decode()
    assert all(not wording_problems(text) for text in said(root))


def test_the_whisper_says_the_first_name_only():
    assert twiml.whisper_text(first_name="Dana") == "New request from Dana."
    assert twiml.whisper_text(first_name=" Mary  Ann ", urgent=True) == (
        "Urgent new request from Mary Ann."
    )


@pytest.mark.parametrize("first_name", ["Depression", "ketamine", "", "A" * 31, "Anxious Ann"])
def test_a_whisper_never_says_a_health_word_or_an_odd_name(first_name):
    text = twiml.whisper_text(first_name=first_name)
    assert text == "New request."
    assert not wording_problems(text)


def test_the_bridge_dials_the_person_from_the_caller_id_with_machine_detection():
    root = parse(
        twiml.bridge(
            person_phone=PERSON,
            caller_id=CALLER_ID,
            ring_seconds=30,
            whisper="New request from Dana.",
            **URLS,
        )
    )

    whisper, dial = list(root)
    assert (whisper.tag, whisper.text) == ("Say", "New request from Dana.")
    assert dial.attrib == {
        "callerId": CALLER_ID,
        "timeout": "30",
        "action": URLS["dial_ended_url"],
        "method": "POST",
    }
    (number,) = list(dial)
    assert number.text == PERSON
    assert number.attrib == {
        "url": URLS["person_url"],
        "method": "POST",
        "statusCallback": URLS["person_status_url"],
        "statusCallbackMethod": "POST",
        "statusCallbackEvent": "initiated ringing answered completed",
        "machineDetection": "DetectMessageEnd",
    }


def test_a_recorded_bridge_tells_the_member_of_staff_and_records_both_sides():
    root = parse(
        twiml.bridge(person_phone=PERSON, caller_id=CALLER_ID, ring_seconds=30, record=True, **URLS)
    )

    assert said(root) == [twiml.RECORDING_NOTICE]
    assert root.find("Dial").get("record") == "record-from-answer-dual"


@pytest.mark.parametrize("answered_by", ["human", "unknown", ""])
def test_a_person_is_connected_with_nothing_said_unless_recording(answered_by):
    assert list(parse(twiml.person_answered(answered_by=answered_by))) == []
    recorded = parse(twiml.person_answered(answered_by=answered_by, record=True))
    assert said(recorded) == [twiml.RECORDING_NOTICE]
    assert recorded.find("Hangup") is None


@pytest.mark.parametrize("answered_by", ["machine_end_beep", "machine_end_silence", "fax"])
def test_a_machine_is_hung_up_on_without_a_voicemail_to_leave(answered_by):
    root = parse(twiml.person_answered(answered_by=answered_by, voicemail=""))
    assert [element.tag for element in root] == ["Hangup"]


def test_a_voicemail_is_left_once_the_greeting_has_ended():
    script = twiml.voicemail_script(discreet=False)
    root = parse(twiml.person_answered(answered_by="machine_end_beep", voicemail=script))
    assert [(element.tag, element.text) for element in root] == [("Say", script), ("Hangup", None)]
    # Before the greeting's end a message would be cut: hang up instead.
    early = parse(twiml.person_answered(answered_by="machine_start", voicemail=script))
    assert [element.tag for element in early] == ["Hangup"]
    # A fax gets nothing.
    fax = parse(twiml.person_answered(answered_by="fax", voicemail=script))
    assert [element.tag for element in fax] == ["Hangup"]


def test_the_voicemail_names_the_clinic_and_its_number_and_no_health_word():
    script = twiml.voicemail_script(discreet=False)
    assert script == (
        "Hello, this is Sterling Institute calling you back. "
        "Please call us at 4 7 5, 3 2 9, 2 6 8 6. Thank you."
    )
    assert not wording_problems(script)


def test_the_discreet_voicemail_names_no_clinic_and_gives_the_discreet_number():
    script = twiml.voicemail_script(discreet=True)
    assert script == (
        "Hello, this is your care team calling you back. "
        "Please call us at 4 7 5, 3 2 9, 0 0 0 0. Thank you."
    )
    assert not wording_problems(script, extra_phrases=("Sterling Institute", "Sterling"))
    assert "475 329 2686" not in script.replace(", ", " ").replace(" ", "")


def test_a_clinic_name_with_a_health_word_leaves_the_discreet_voicemail(settings):
    settings.CLINIC_NAME = "Sterling Depression Center"
    assert twiml.voicemail_script(discreet=False) == twiml.voicemail_script(discreet=True)


def test_a_discreet_voicemail_that_would_name_the_clinic_is_refused(settings):
    settings.DISCREET_SENDER_NAME = "the Sterling Institute team"
    with pytest.raises(ValueError):
        twiml.voicemail_script(discreet=True)
    settings.DISCREET_SENDER_NAME = "your therapy team"
    with pytest.raises(ValueError):
        twiml.voicemail_script(discreet=True)


@pytest.mark.parametrize(
    ("status", "words"),
    [("completed", "The call has ended."), ("no-answer", "did not answer"), ("busy", "did not")],
)
def test_the_member_of_staff_hears_how_the_dial_ended_and_the_call_hangs_up(status, words):
    root = parse(twiml.dial_ended(dial_status=status))
    assert words in said(root)[0]
    assert root[-1].tag == "Hangup"


def test_a_number_is_spoken_digit_by_digit_in_groups():
    assert twiml.spoken_number("+14753292686") == "4 7 5, 3 2 9, 2 6 8 6"
    assert twiml.spoken_number("not a number") == ""
