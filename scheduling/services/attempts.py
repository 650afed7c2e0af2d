"""Logging a call attempt and its outcome: what each outcome does to the callback and the
lead, and when an unanswered callback is tried again."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic import business_time
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from scheduling.models import CallAttempt, Callback
from scheduling.services import conversations, crisis
from scheduling.services.alerts import alerts_settle
from scheduling.services.callback_state import (
    callback_close,
    callback_follow_up,
    callback_held,
    callback_reopen,
)
from scheduling.services.refusals import callback_refusal_check, lead_refusal_record

# After how many unanswered calls, and when, the next try comes: +15 min, +2 h,
# then the next business morning; after that the lead is unreachable.
CLOSING_OUTCOMES = {
    CallAttempt.Outcome.NOT_INTERESTED: "not interested",
    CallAttempt.Outcome.WRONG_NUMBER: "wrong number",
    CallAttempt.Outcome.DO_NOT_CONTACT: "asked not to be contacted",
}


# Outcomes of a call in which the person answered the lead's number, which proves it.
PHONE_PROVING_OUTCOMES = frozenset(
    {
        CallAttempt.Outcome.REACHED,
        CallAttempt.Outcome.BOOKED,
        CallAttempt.Outcome.CALL_BACK_LATER,
    }
)


def retry_at_for(*, unanswered: int, now: datetime) -> datetime | None:
    """When to try again after the ``unanswered``-th unanswered call, or None to stop."""
    schedule = settings.CALLBACK_RETRY_SCHEDULE
    if unanswered > len(schedule):
        return None
    step = schedule[unanswered - 1]
    if step == "next-morning":
        return business_time.next_business_morning(now)
    return business_time.next_open(now + timedelta(minutes=int(step)))


def _outcome_chosen(outcome: str, confirm: str) -> CallAttempt.Outcome:
    """The outcome as the coordinator chose it: never a default, "booked" only with
    its booking (``callback_book``), a closing one only confirmed (``confirm`` echoes
    it, so neither a stray key nor a script closes a person's request in one step)."""
    if not outcome:
        raise ApplicationError("Choose an outcome.", fields={"outcome": ["Required."]})
    try:
        chosen = CallAttempt.Outcome(outcome)
    except ValueError:
        raise ApplicationError(
            "Choose an outcome.", fields={"outcome": ["Not a known outcome."]}
        ) from None
    if chosen == CallAttempt.Outcome.BOOKED:
        raise ApplicationError(
            "Book the consultation: “reached and booked” is logged with the booking.",
            code="booking_required",
            fields={"outcome": ["Logged by booking a consultation."]},
        )
    if chosen in CLOSING_OUTCOMES and confirm != chosen:
        raise ApplicationError(
            "Confirm this outcome: it closes the person's request.",
            code="confirmation_required",
            fields={"confirm": [f"Send confirm={chosen.value} to log it."]},
        )
    return chosen


def _call_logged_attempt(*, callback_id: int, user_id: int) -> CallAttempt | None:
    """The newest attempt a call of ``user_id`` logged by itself on the callback and
    that still waits for its outcome (locked), if any."""
    return (
        CallAttempt.objects.select_for_update()
        .filter(callback_id=callback_id, coordinator_id=user_id, call__isnull=False, outcome="")
        .order_by("-started_at", "-pk")
        .first()
    )


def attempt_log(
    *,
    callback_id: int,
    user_id: int,
    outcome: str,
    notes: str = "",
    call_back_at: datetime | None = None,
    confirm: str = "",
) -> CallAttempt:
    """Record a call and move the callback and the lead on.

    Reached: the lead is contacted and the callback done ("reached and booked" is
    logged by ``callback_book``, with the appointment, never here). Call back
    later: the callback waits until ``call_back_at`` (required). No answer or a
    voicemail: retried on the configured schedule (keeping its place in the queue),
    with a "we tried to reach you" text; after the last try the lead is closed as
    unreachable and gets a final email. Not interested, wrong number, do not
    contact: the lead is closed; do not contact also refuses the person's phone and
    email for good (``services.refusals``). Closing outcomes need ``confirm`` equal to
    the outcome, and the coordinator may take them back for a few minutes
    (``attempt_undo``). A voicemail may only be logged when the person allowed
    voicemails. A call placed by the clinic's phone logged its attempt by itself
    (``services.call_log``): the outcome and notes go on that attempt, not a new one.
    Only the coordinator holding the claim may log on it, and on a
    "previously refused" callback only once a coordinator acknowledged the refusal
    (409 ``refusal_unacknowledged`` until then)."""
    outcome = _outcome_chosen(outcome, confirm)
    now = timezone.now()
    with transaction.atomic():
        callback = callback_held(callback_id=callback_id, user_id=user_id)
        callback_refusal_check(callback=callback)
        lead = callback.lead
        if (
            outcome == CallAttempt.Outcome.VOICEMAIL
            and not intake_selectors.lead_contact_preferences(lead_id=lead.pk).voicemail_ok
        ):
            raise ApplicationError(
                "This person did not allow voicemails.",
                fields={"outcome": ["Voicemail is not allowed for this person."]},
            )
        if outcome == CallAttempt.Outcome.CALL_BACK_LATER and (
            call_back_at is None or call_back_at <= now
        ):
            raise ApplicationError(
                "Say when to call back.", fields={"call_back_at": ["A future time is required."]}
            )
        attempt = _call_logged_attempt(callback_id=callback.pk, user_id=user_id)
        if attempt is None:
            attempt = CallAttempt.objects.create(
                callback=callback,
                coordinator_id=user_id,
                outcome=outcome,
                notes=notes,
                call_back_at=call_back_at,
            )
        else:
            # The call logged itself; the coordinator adds how it went. Its
            # ``created_at`` becomes the moment the outcome was logged (the undo window
            # runs from it); the call's own moments stay in ``started_at``/``answered_at``.
            attempt.outcome = outcome
            attempt.notes = notes
            attempt.call_back_at = call_back_at
            attempt.created_at = now
            attempt.save(update_fields=["outcome", "notes", "call_back_at", "created_at"])
        conversations.attempt_logged(attempt_id=attempt.pk)
        undo_state = _apply_outcome(callback, outcome=outcome, now=now, call_back_at=call_back_at)
        if outcome == CallAttempt.Outcome.DO_NOT_CONTACT:
            undo_state["refusal"] = lead_refusal_record(lead=lead, user_id=user_id)
        if undo_state:
            attempt.undo_state = undo_state
            attempt.save(update_fields=["undo_state"])
    return attempt


def _apply_outcome(
    callback: Callback, *, outcome: str, now: datetime, call_back_at: datetime | None
) -> dict:
    """Move the callback and lead on; for a closing outcome, returns what it changed
    (``CallAttempt.undo_state``), else an empty dict."""
    lead = callback.lead
    if outcome in PHONE_PROVING_OUTCOMES:
        # The person answered a call to the lead's number: it is theirs.
        intake_services.lead_details_verify(lead_id=lead.pk, phone=True, by=Lead.Verification.CALL)
    if outcome in (CallAttempt.Outcome.REACHED, CallAttempt.Outcome.BOOKED):
        intake_services.lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CONTACTED)
        callback_close(callback, result=Callback.Result.REACHED, now=now)
    elif outcome == CallAttempt.Outcome.CALL_BACK_LATER:
        intake_services.lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CONTACTED)
        callback_reopen(callback, retry_at=call_back_at)
        alerts_settle(callback_id=callback.pk, now=now, kept_too=True)  # reached
    elif outcome in CLOSING_OUTCOMES:
        stage_before = lead.stage  # loaded with the callback's lock, in this transaction
        intake_services.lead_stage_advance(
            lead_id=lead.pk, stage=Lead.Stage.CLOSED, reason=CLOSING_OUTCOMES[outcome]
        )
        settled = callback_close(callback, result=Callback.Result.CLOSED, now=now)
        return {"stage": stage_before, "alerts": settled}
    else:  # no answer, voicemail
        callback.unanswered_attempts += 1
        # A crisis is tried again within minutes and never closed on its own.
        if crisis.callback_in_crisis(callback):
            retry_at = crisis.crisis_unanswered(callback, now=now)
        else:
            retry_at = retry_at_for(unanswered=callback.unanswered_attempts, now=now)
        if retry_at is None:
            intake_services.lead_stage_advance(
                lead_id=lead.pk, stage=Lead.Stage.CLOSED, reason="unreachable"
            )
            callback_close(callback, result=Callback.Result.UNREACHABLE, now=now)
            callback_follow_up(callback, purpose="follow_up", template="unreachable", sms=False)
        else:
            callback_reopen(callback, retry_at=retry_at)
            callback_follow_up(
                callback,
                purpose="follow_up",
                template="missed_call",
                sms=True,
                email=False,
                key=f"missed-call:{callback.pk}:{callback.unanswered_attempts}",
                context={
                    "next_try": business_time.next_try_phrase(
                        at=retry_at, now=now, tz_name=callback.lead.timezone
                    )
                },
            )
    return {}
