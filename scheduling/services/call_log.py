"""Every call logs itself: a bridged call whose person's leg ended writes its one
attempt (``CallAttempt.call``), with when it started, when it was answered, how long
it lasted and how it went; the coordinator then only adds the outcome and notes
(``callbacks.attempt_log`` fills that attempt in rather than making another).

Called by ``calls.call_leg_status_record`` in its transaction, the call's row locked:
status callbacks repeated, retried or out of order write one attempt (the one-to-one
``call`` backs it) and never move its result backwards (``RESULT_RANK``).

A call whose member of staff never pressed 1 (or never answered) dialled nobody: it
logs no attempt, so nothing counts against the person as an unanswered try.
"""

from __future__ import annotations

import logging

from intake import selectors as intake_selectors
from notifications import bridged_call_twiml as twiml
from scheduling.models import Call, CallAttempt, CallLeg

logger = logging.getLogger(__name__)

Result = CallAttempt.Result

# A leg's final statuses (as ``calls.FINAL``, which imports this module).
FINAL = frozenset(
    {
        CallLeg.Status.COMPLETED,
        CallLeg.Status.BUSY,
        CallLeg.Status.NO_ANSWER,
        CallLeg.Status.FAILED,
        CallLeg.Status.CANCELED,
    }
)
# How far along a result is: a late or repeated callback never moves it back (a
# machine's "voicemail" never becomes "no answer" again, "connected" stays).
RESULT_RANK = {
    Result.FAILED: 0,
    Result.NO_ANSWER: 1,
    Result.BUSY: 1,
    Result.VOICEMAIL: 2,
    Result.CONNECTED: 3,
}
# The person's leg's final status, when it was not answered.
NOT_ANSWERED = {
    CallLeg.Status.BUSY: Result.BUSY,
    CallLeg.Status.NO_ANSWER: Result.NO_ANSWER,
    # The Dial was cut short (the member of staff hung up) before the person answered.
    CallLeg.Status.CANCELED: Result.NO_ANSWER,
    CallLeg.Status.FAILED: Result.FAILED,
}


def _voicemail_left(call: Call) -> bool:
    """Whether the call left a message on the person's machine: as
    ``call_webhooks.call_person_answered`` decides it, only where the person allows
    voicemail and the (discreet, if asked) script passes the wording check."""
    preferences = intake_selectors.lead_contact_preferences(lead_id=call.callback.lead_id)
    if not preferences.voicemail_ok:
        return False
    try:
        twiml.voicemail_script(discreet=not preferences.mention_clinic_ok)
    except ValueError:
        return False
    return True


def call_result(*, call: Call, person_leg: CallLeg) -> str:
    """How the call went for the person, from their leg's final status and machine
    detection: connected (a person answered), voicemail (a machine, and a message was
    left), no answer (a machine hung up on; no answer; cut short), busy, failed."""
    if person_leg.status != CallLeg.Status.COMPLETED:
        return NOT_ANSWERED[person_leg.status]
    if person_leg.answered_by in twiml.MACHINE_ANSWERS:
        # A message is left only once the greeting ended (``twiml.person_answered``): a
        # machine heard at its start, or a fax, was hung up on.
        left = person_leg.answered_by in twiml.MESSAGE_END_ANSWERS and _voicemail_left(call)
        return Result.VOICEMAIL if left else Result.NO_ANSWER
    return Result.CONNECTED


def call_attempt_record(*, call: Call) -> CallAttempt | None:
    """Write (or bring up to date) the one attempt of ``call`` once its person's leg
    reached a final status; None while it has not, or when nobody was dialled. The
    caller holds the call's row lock (``calls.call_leg_status_record``). Fields only
    fill in (a moment stamped once stays) and the result only moves forward."""
    person_leg = CallLeg.objects.filter(call=call, role=CallLeg.Role.PERSON).first()
    if person_leg is None or person_leg.status not in FINAL:
        return None
    result = call_result(call=call, person_leg=person_leg)
    answered = result in (Result.CONNECTED, Result.VOICEMAIL)
    facts = {
        "result": result,
        # Twilio's own moments only: the earliest heard of so far (a final status
        # always stamps ``ended_at``); an earlier one heard late replaces it.
        "started_at": person_leg.initiated_at
        or person_leg.ringing_at
        or person_leg.answered_at
        or person_leg.ended_at,
        "answered_at": person_leg.answered_at if answered else None,
        "duration_seconds": person_leg.duration_seconds if answered else 0,
    }
    attempt, created = CallAttempt.objects.get_or_create(
        call=call,
        defaults={"callback_id": call.callback_id, "coordinator_id": call.coordinator_id, **facts},
    )
    if created:
        logger.info("calls.attempt_logged", extra={"call": call.pk, "result": result})
        return attempt
    changed: list[str] = []
    if RESULT_RANK[result] > RESULT_RANK.get(attempt.result, -1):
        attempt.result = result
        changed.append("result")
    if attempt.started_at is None or (
        facts["started_at"] is not None and facts["started_at"] < attempt.started_at
    ):
        attempt.started_at = facts["started_at"]
        changed.append("started_at")
    if attempt.result in (Result.CONNECTED, Result.VOICEMAIL):
        for field in ("answered_at", "duration_seconds"):
            if not getattr(attempt, field) and facts[field]:
                setattr(attempt, field, facts[field])
                changed.append(field)
    if changed:
        attempt.save(update_fields=changed)
    return attempt
