"""What the console's pages show about a callback, worked out once for the views: the
outcomes a coordinator may choose, the person's wishes about contact, and the banner
that says what was just logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from clinic import business_time
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import selectors as notification_selectors
from scheduling import services
from scheduling.models import Appointment, CallAttempt, Callback

# What a closing outcome does, said in the confirmation that asks for it.
CLOSING_CONSEQUENCES = {
    CallAttempt.Outcome.NOT_INTERESTED: "closes {name}'s request.",
    CallAttempt.Outcome.WRONG_NUMBER: "closes {name}'s request.",
    CallAttempt.Outcome.DO_NOT_CONTACT: "closes {name}'s request and stops texts to the number.",
}


@dataclass(frozen=True)
class OutcomeChoice:
    value: str
    label: str
    key: str  # the number key that chooses it (shortcuts)
    closing: bool
    consequence: str  # for a closing outcome: what confirming it does


def outcome_choices(*, first_name: str, voicemail_ok: bool) -> list[OutcomeChoice]:
    """The outcomes in their usual order, numbered 1 to 8 as the keys that choose
    them. "Reached and booked" is among them (key 2) but is logged by booking; a
    voicemail only where the person allowed one (its key is then unused)."""
    name = first_name or "this person"
    choices = []
    for number, (value, label) in enumerate(CallAttempt.Outcome.choices, start=1):
        if value == CallAttempt.Outcome.VOICEMAIL and not voicemail_ok:
            continue
        consequence = CLOSING_CONSEQUENCES.get(value, "")
        choices.append(
            OutcomeChoice(
                value=value,
                label=str(label),
                key=str(number),
                closing=value in services.CLOSING_OUTCOMES,
                consequence=consequence.format(name=name),
            )
        )
    return choices


@dataclass(frozen=True)
class ContactWishes:
    """How the person may be contacted, first thing on the callback page."""

    voicemail_ok: bool
    mention_clinic_ok: bool
    texts_ok: bool
    texts_why_not: str  # "" when texts are allowed
    email_only: bool


def contact_wishes(lead: Lead) -> ContactWishes:
    preferences = intake_selectors.lead_contact_preferences(lead_id=lead.pk)
    why_not = ""
    if not lead.phone:
        why_not = "no phone number"
    elif not intake_selectors.lead_sms_consent_granted(lead_id=lead.pk):
        why_not = "no consent to texts"
    elif notification_selectors.sms_block_get(phone=str(lead.phone)) is not None:
        why_not = "the number is opted out"
    elif not intake_selectors.lead_sms_reachable(lead_id=lead.pk):
        why_not = "the number cannot take texts"
    return ContactWishes(
        voicemail_ok=preferences.voicemail_ok,
        mention_clinic_ok=preferences.mention_clinic_ok,
        texts_ok=not why_not,
        texts_why_not=why_not,
        email_only=bool(lead.email) and not lead.phone,
    )


def _clock(moment: datetime, *, now: datetime) -> str:
    """A time as the clinic reads it: "10:40" today, else "Mon 3 Mar 08:00"."""
    zone = business_time.clinic_zone()
    local = timezone.localtime(moment, zone)
    if local.date() == timezone.localtime(now, zone).date():
        return f"{local:%H:%M}"
    return f"{local:%a} {local.day} {local:%b %H:%M}"


@dataclass(frozen=True)
class LoggedBanner:
    """ "Logged 'No answer' for Dana. Next try at 10:40.", and whether it can be undone."""

    text: str
    attempt_id: int
    callback_id: int
    undo_until: str  # "" when it cannot be undone


def logged_banner(attempt: CallAttempt, *, now: datetime) -> LoggedBanner:
    callback = attempt.callback
    lead = callback.lead
    name = lead.first_name or "this person"
    what = f"Logged “{attempt.get_outcome_display()}” for {name}."
    outcome = attempt.outcome
    if outcome == CallAttempt.Outcome.BOOKED:
        appointment = (
            Appointment.objects.filter(lead_id=lead.pk, status__in=Appointment.ACTIVE)
            .select_related("clinician")
            .order_by("-created_at")
            .first()
        )
        after = (
            f" Consultation {_clock(appointment.starts_at, now=now)} with "
            f"{appointment.clinician.name}."
            if appointment
            else ""
        )
    elif outcome == CallAttempt.Outcome.CALL_BACK_LATER and attempt.call_back_at:
        after = f" Call back at {_clock(attempt.call_back_at, now=now)}."
    elif outcome in (CallAttempt.Outcome.NO_ANSWER, CallAttempt.Outcome.VOICEMAIL):
        if callback.status == Callback.Status.OPEN and callback.retry_at:
            after = f" Next try at {_clock(callback.retry_at, now=now)}."
        else:
            after = " That was the last try: the request is closed as unreachable."
    elif outcome in services.CLOSING_OUTCOMES:
        after = " The request is closed."
    else:
        after = " The callback is closed."
    until = services.attempt_undoable_until(attempt)
    return LoggedBanner(
        text=what + after,
        attempt_id=attempt.pk,
        callback_id=callback.pk,
        undo_until=_clock(until, now=now) if until and until > now else "",
    )
