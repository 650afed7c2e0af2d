"""What the person is told about our getting back to them: how (the channel they
chose, as far as the details they gave allow) and when (the callback window, in
their own time zone), in one place for the CTA's answer, the no-JavaScript page and
the confirmations, so they never say different things.

Everything here depends on the submission alone (what that request said) and the
clock, never on the lead: the answer must not tell a stranger whether the person
was known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clinic import business_time
from intake import selectors, services
from intake.models import Lead, Submission

CALL = "call"
TEXT = "text"
EMAIL = "email"

# The words of callback_window_phrase that give no clock time (no zone to explain).
_NO_CLOCK = "in the next few minutes"


def contact_channel(
    *, preferred_channel: str, phone: Any, email: str, sms_consent: bool, sms_reachable: bool
) -> str:
    """How a care coordinator will get back to the person, from what they chose and
    gave: a text only with a phone that takes texts and consent to them, an email
    when asked for by email or when no phone was given (never "call" to someone who
    left only an address), else a call."""
    if preferred_channel == Lead.Channel.SMS and phone and sms_consent and sms_reachable:
        return TEXT
    if email and (preferred_channel == Lead.Channel.EMAIL or not phone):
        return EMAIL
    return CALL


def submission_contact_channel(submission: Submission) -> str:
    """:func:`contact_channel` for one submission (its own phone, address and consent)."""
    phone = submission.phone
    reachable = bool(phone) and selectors.phone_sms_reachable(
        phone=phone, phone_type=services.phone_type_of(phone)
    )
    return contact_channel(
        preferred_channel=submission.preferred_channel,
        phone=phone,
        email=submission.email,
        sms_consent=submission.sms_consent,
        sms_reachable=reachable,
    )


@dataclass(frozen=True)
class NextContact:
    #: ``call``, ``text`` or ``email``: how we will get back (:func:`contact_channel`).
    channel: str
    #: One or two sentences for the person: how, when, and while closed, that we are.
    text: str
    #: The IANA zone the times in ``text`` are in: the person's, else the clinic's.
    time_zone: str
    clinic_open: bool


def _zone_note(zone_name: str) -> str:
    return f" Times are in the clinic's time zone ({zone_name.replace('_', ' ')})."


def next_contact(*, submission: Submission, now: datetime) -> NextContact:
    """When and how we will be in touch about ``submission``, said as of ``now``.

    From the callback window promised when it was made (its end is when the call is
    due), in the zone the browser sent; without one, in the clinic's zone, and the
    text says so. While the clinic is closed it says so first ("We're closed now.").
    A crisis is first in the queue and due at once: the text gives "in the next few
    minutes" while open, and while closed the opening as the latest time, never a
    vague "soon"."""
    channel = submission_contact_channel(submission)
    person_zone = business_time.person_zone(submission.timezone)
    zone_name = person_zone.key
    fell_back = zone_name != submission.timezone
    opens_at = business_time.next_open(now)
    clinic_open = opens_at <= now
    verb = {CALL: "call", TEXT: "text", EMAIL: "email"}[channel]
    if submission.is_crisis:
        # The protocol may call whatever was chosen: say "contact" unless a call or
        # an email is all it can be.
        verb = verb if channel == CALL or not submission.phone else "contact"
        if clinic_open:
            text = (
                "Your request is first in our queue: a care coordinator will "
                f"{verb} you in the next few minutes."
            )
        else:
            opening = business_time.callback_window_phrase(
                due_at=opens_at, now=now, tz_name=submission.timezone
            )
            text = (
                "We're closed now, but your request is first in our queue: a care "
                f"coordinator will {verb} you as early as they can, at the latest {opening}."
            )
            if fell_back:
                text += _zone_note(zone_name)
        return NextContact(channel=channel, text=text, time_zone=zone_name, clinic_open=clinic_open)
    window_ends = (submission.callback_window or {}).get("ends_at")
    due_at = datetime.fromisoformat(window_ends) if window_ends else now
    phrase = business_time.callback_window_phrase(
        due_at=max(due_at, now), now=now, tz_name=submission.timezone
    )
    text = f"A care coordinator will {verb} you {phrase}."
    if not clinic_open:
        text = f"We're closed now. {text}"
    if fell_back and phrase != _NO_CLOCK:
        text += _zone_note(zone_name)
    return NextContact(channel=channel, text=text, time_zone=zone_name, clinic_open=clinic_open)
