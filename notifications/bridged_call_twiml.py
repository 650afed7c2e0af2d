"""TwiML for a bridged call: the clinic's phone rings a member of staff's own phone,
and on their "1" dials the person from the clinic's caller ID.

Each function returns one TwiML document (``twilio.twiml.voice_response``) built
from plain values; the webhooks that serve them (scheduling) read those values
from the database at that moment, so the person's number is never in a URL. What
the member of staff hears before pressing 1 says nothing about the person: it may
be their voicemail. What the person's voicemail hears names no health information,
and no clinic when the person asked us not to (``wording_problems`` checks it).
"""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from twilio.twiml.voice_response import VoiceResponse

from notifications.wording import wording_problems

# The one key that connects: anything else, or nothing, ends the call.
CONNECT_KEY = "1"
# Seconds the prompt waits for the key after it was said (twice).
PROMPT_WAIT_SECONDS = 8
# A first name longer than this is not one to say aloud.
FIRST_NAME_MAX = 30
# Machine detection's verdicts that mean no person picked up.
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
# Only once the greeting has ended is a message heard in full (DetectMessageEnd).
MESSAGE_END_ANSWERS = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
# Record both parties, each on a channel of its own, from when the person answers.
DIAL_RECORD = "record-from-answer-dual"
RECORDING_NOTICE = "This call will be recorded."


def _document(response: VoiceResponse) -> str:
    return str(response)


def spoken_number(number: str) -> str:
    """A phone number as a voice reads it clearly: "4 7 5, 3 2 9, 2 6 8 6"."""
    try:
        parsed = phonenumbers.parse(number, settings.PHONENUMBER_DEFAULT_REGION)
        text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        text = number
    return ", ".join(" ".join(group) for group in re.findall(r"\d+", text))


def hang_up(reason: str = "") -> str:
    """Say ``reason`` (no personal data) and hang up."""
    response = VoiceResponse()
    if reason:
        response.say(reason)
    response.hangup()
    return _document(response)


def staff_prompt(*, gather_url: str, instant: bool, urgent: bool = False) -> str:
    """The member of staff answered: press 1 to be connected (so their voicemail never
    reaches a patient), said twice, then goodbye. An instant call says it is a new
    request (an urgent one if so), nothing more."""
    if instant:
        what = "Urgent new request." if urgent else "New request."
        prompt = f"{what} Press 1 to take the call."
    else:
        prompt = "Your call from the console. Press 1 to be connected."
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1, action=gather_url, method="POST", timeout=PROMPT_WAIT_SECONDS
    )
    gather.say(prompt, loop=2)
    response.say("No key was pressed. Goodbye.")
    response.hangup()
    return _document(response)


def whisper_text(*, first_name: str, urgent: bool = False) -> str:
    """What the member of staff who took an instant call hears before the person: the
    first name only, and only one that names no health information."""
    what = "Urgent new request" if urgent else "New request"
    name = " ".join(first_name.split())
    if not name or len(name) > FIRST_NAME_MAX or wording_problems(name):
        return f"{what}."
    return f"{what} from {name}."


def bridge(
    *,
    person_phone: str,
    caller_id: str,
    person_url: str,
    person_status_url: str,
    dial_ended_url: str,
    ring_seconds: int,
    whisper: str = "",
    record: bool = False,
    recording_status_url: str = "",
) -> str:
    """The member of staff pressed 1: (the whisper,) the recording notice if recording,
    then dial the person from ``caller_id``. The person's leg runs ``person_url``
    when answered (machine detection waits for a greeting's end) and reports to
    ``person_status_url``; the Dial's end goes to ``dial_ended_url``, and a finished
    recording to ``recording_status_url``."""
    response = VoiceResponse()
    if whisper:
        response.say(whisper)
    recording_callback = {}
    if record:
        response.say(RECORDING_NOTICE)
        if recording_status_url:
            recording_callback = {
                "recording_status_callback": recording_status_url,
                "recording_status_callback_method": "POST",
                "recording_status_callback_event": "completed",
            }
    dial = response.dial(
        caller_id=caller_id,
        timeout=ring_seconds,
        action=dial_ended_url,
        method="POST",
        record=DIAL_RECORD if record else None,
        **recording_callback,
    )
    dial.number(
        person_phone,
        url=person_url,
        method="POST",
        status_callback=person_status_url,
        status_callback_method="POST",
        status_callback_event="initiated ringing answered completed",
        machine_detection="DetectMessageEnd",
    )
    return _document(response)


def voicemail_script(*, discreet: bool) -> str:
    """The message left on the person's voicemail: who called and a number to call
    back, no name of the person, no health information; with ``discreet``, no clinic
    either (``DISCREET_SENDER_NAME`` and ``DISCREET_CALLER_ID``). A named script that
    fails the wording check (a clinic name with a health word) falls back to the
    discreet one; a discreet one that fails raises ``ValueError``."""
    if not discreet:
        named = (
            f"Hello, this is {settings.CLINIC_NAME} calling you back. "
            f"Please call us at {spoken_number(settings.CLINIC_PHONE)}. Thank you."
        )
        if not wording_problems(named):
            return named
    number = settings.DISCREET_CALLER_ID
    back = f" Please call us at {spoken_number(number)}." if number else ""
    script = f"Hello, this is {settings.DISCREET_SENDER_NAME} calling you back.{back} Thank you."
    problems = wording_problems(script, extra_phrases=(settings.CLINIC_NAME,))
    if problems:
        raise ValueError(f"The discreet voicemail would name {sorted(set(problems))}")
    return script


def person_answered(*, answered_by: str, voicemail: str = "", record: bool = False) -> str:
    """The person's phone picked up. A person (or machine detection unsure) hears the
    recording notice if recording and is connected. A machine gets ``voicemail``
    once its greeting has ended, if there is one to leave; otherwise the call hangs
    up on it (a fax too)."""
    if answered_by in MACHINE_ANSWERS:
        if voicemail and answered_by in MESSAGE_END_ANSWERS:
            return hang_up(voicemail)
        return hang_up()
    response = VoiceResponse()
    if record:
        response.say(RECORDING_NOTICE)
    return _document(response)


# DialCallStatus values that mean the person never came on the line.
NOT_REACHED = frozenset({"busy", "no-answer", "failed", "canceled"})


def dial_ended(*, dial_status: str) -> str:
    """The person's leg ended: tell the member of staff how, and hang up (the call is
    logged by its status callbacks, not by what they heard)."""
    if dial_status in NOT_REACHED:
        return hang_up("The person did not answer. Goodbye.")
    return hang_up("The call has ended. Goodbye.")
