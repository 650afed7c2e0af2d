"""Crisis: opening the protocol for a lead whose screening said so
(:func:`callback_crisis_open`), and the follow-up: a crisis callback that is not
reached is tried again within minutes (``CRISIS_RETRY_MINUTES``), open or closed;
after the last step a supervisor decides, and until then it stays urgent and is tried
again at the last step's interval. It is never closed as unreachable on its own.

A crisis callback is an urgent callback of a lead who made a crisis submission
(``Submission.is_crisis``) or whose screening opened the protocol
(``Screening.opens_crisis``); messages to such a person take the crisis wording
(``outreach.lead_message``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from scheduling.models import Callback, CrisisDecision, StaffAlert
from scheduling.services.alerts import alert_raise, alerts_settle
from scheduling.services.callback_state import callback_close, callback_follow_up, callback_reopen

# How far ahead a supervisor may set the next try.
DECISION_RETRY_HORIZON = timedelta(days=7)
# A time picked in the form may have just passed when it arrives: it means "now".
DECISION_RETRY_GRACE = timedelta(minutes=5)
REASON_MAX_LENGTH = 1000


def callback_in_crisis(callback: Callback) -> bool:
    """An urgent callback of a lead who made a crisis submission."""
    return callback.is_urgent and intake_selectors.lead_in_crisis(lead_id=callback.lead_id)


def callback_crisis_open(callback: Callback, *, now: datetime) -> Callback:
    """Open the crisis protocol on ``callback`` (locked by the caller) at ``now``, as a
    crisis request does when it is routed: urgent, first in the queue, due now (open
    or closed), no waiting for a retry time if it is open (a holder keeps the claim),
    and an urgent alert to the supervisors, raised anew if an earlier one was settled.
    The lead is a crisis lead from then on (``intake.selectors.lead_in_crisis``), so
    the page shows the banner and every message takes the crisis wording."""
    callback.is_urgent = True
    callback.due_at = min(callback.due_at, now)
    callback.original_due_at = min(callback.original_due_at, now)
    if callback.status == Callback.Status.OPEN:
        callback.retry_at = None
    callback.save(update_fields=["is_urgent", "due_at", "original_due_at", "retry_at"])
    alert_raise(
        callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR, again=True
    )
    return callback


def crisis_retry_at(*, unanswered: int, now: datetime) -> datetime | None:
    """When to try a crisis callback again after its ``unanswered``-th unanswered call
    (minutes later, open or closed), or None once a supervisor decides."""
    steps = settings.CRISIS_RETRY_MINUTES
    if unanswered > len(steps):
        return None
    return now + timedelta(minutes=steps[unanswered - 1])


def crisis_unanswered(callback: Callback, *, now: datetime) -> datetime:
    """A call to a crisis callback went unanswered (``unanswered_attempts`` counts it):
    when to try again. Once the crisis steps are spent a supervisor is asked to decide
    (an alert, raised again if an earlier decision was to keep trying), and the
    callback keeps the last step's interval meanwhile, so nobody in crisis is parked
    while the decision waits."""
    retry_at = crisis_retry_at(unanswered=callback.unanswered_attempts, now=now)
    if retry_at is not None:
        return retry_at
    steps = settings.CRISIS_RETRY_MINUTES
    callback.retry_at = now + timedelta(minutes=steps[-1] if steps else 60)
    alert_raise(
        callback,
        kind=StaffAlert.Kind.CRISIS_DECISION,
        audience=StaffAlert.Audience.SUPERVISOR,
        again=True,
    )
    return callback.retry_at


def callback_crisis_decide(
    *,
    callback_id: int,
    user_id: int,
    action: str,
    reason: str,
    retry_at: datetime | None = None,
) -> CrisisDecision:
    """A supervisor settles a crisis callback that was not reached after every crisis
    retry (one with an open "decide" alert): keep trying at ``retry_at`` (from now to
    seven days ahead; it stays urgent, and a next unanswered call asks again), or close
    it as unreachable (the lead is closed and the person gets the crisis wording of
    "we could not reach you", with 988 and 911). Either way its urgent and decision
    alerts are settled and the decision is kept with the supervisor's reason."""
    reason = reason.strip()
    errors: dict[str, list[str]] = {}
    if action not in CrisisDecision.Action.values:
        errors["action"] = ["Choose: keep trying, or close as unreachable."]
    if not reason:
        errors["reason"] = ["Say why (it is kept with the decision)."]
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = [f"At most {REASON_MAX_LENGTH} characters."]
    now = timezone.now()
    if action == CrisisDecision.Action.RETRY:
        if retry_at is None:
            errors["retry_at"] = ["Say when to try again."]
        elif not now - DECISION_RETRY_GRACE <= retry_at <= now + DECISION_RETRY_HORIZON:
            errors["retry_at"] = ["A time from now to seven days ahead."]
    if errors:
        raise ApplicationError("The decision was not saved.", fields=errors)
    with transaction.atomic():
        callback = (
            Callback.objects.select_for_update()
            .select_related("lead")
            .filter(pk=callback_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED])
            .first()
        )
        waiting = (
            callback is not None
            and StaffAlert.objects.filter(
                callback=callback, kind=StaffAlert.Kind.CRISIS_DECISION, resolved_at__isnull=True
            ).exists()
        )
        if not waiting:
            raise ApplicationError(
                "This callback is not waiting for a decision.",
                code="no_decision_pending",
                status_code=409,
            )
        decision = CrisisDecision.objects.create(
            callback=callback,
            decided_by_id=user_id,
            action=action,
            retry_at=max(retry_at, now) if action == CrisisDecision.Action.RETRY else None,
            reason=reason,
        )
        if action == CrisisDecision.Action.RETRY:
            callback_reopen(callback, retry_at=decision.retry_at)
            alerts_settle(callback_id=callback.pk, now=now, kept_too=True)
        else:
            intake_services.lead_stage_advance(
                lead_id=callback.lead_id, stage=Lead.Stage.CLOSED, reason="unreachable"
            )
            callback_close(callback, result=Callback.Result.UNREACHABLE, now=now)
            callback_follow_up(callback, purpose="follow_up", template="unreachable", sms=True)
    return decision
