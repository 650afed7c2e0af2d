"""Each new request routed: the callback it opens (or joins), due when its answer promised,
and its confirmations, if the confirmation task has not sent them
(``scheduling.services.confirmations``)."""

from __future__ import annotations

from datetime import datetime

from clinic import business_time
from intake.models import Lead, Submission
from notifications import services as notification_services
from scheduling.models import Callback, StaffAlert
from scheduling.services import confirmations, instant_calls
from scheduling.services.alerts import alert_raise


def _promised_due_at(*, submission: Submission, lead: Lead) -> datetime:
    """When a new (not urgent) callback for ``submission`` is due: the end of the window
    its answer promised (``Submission.callback_window``, from clinic time when it was
    made), when that promise was for the lead's own best time and zone. A known lead
    keeps its own: an anonymous form cannot move when the person is called, so then the
    due time is the speed-to-lead clock in the lead's time and zone, as for a
    submission stored without a window."""
    window_ends = (submission.callback_window or {}).get("ends_at")
    if (
        window_ends
        and submission.best_time == lead.best_time
        and submission.timezone == lead.timezone
    ):
        return datetime.fromisoformat(window_ends)
    return business_time.callback_due_at(
        submitted_at=submission.created_at, best_time=lead.best_time, tz_name=lead.timezone
    )


def _callback_open_for(*, submission: Submission, lead: Lead) -> Callback:
    """The lead's live callback, or a new one due when the answer promised, by the
    speed-to-lead clock in the lead's own time and zone (:func:`_promised_due_at`).
    A crisis submission makes the callback urgent (first
    in the queue) and due at once, open or closed (``business_time.crisis_due_at``),
    including a live one queued by an earlier submission."""
    urgent = submission.is_crisis
    live = Callback.objects.filter(
        lead_id=lead.pk, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()
    if live is not None:
        if urgent:
            due_now = business_time.crisis_due_at(submitted_at=submission.created_at)
            live.is_urgent = True
            live.due_at = min(live.due_at, due_now)
            live.original_due_at = min(live.original_due_at, due_now)
            live.save(update_fields=["is_urgent", "due_at", "original_due_at"])
        return live
    if urgent:
        due_at = business_time.crisis_due_at(submitted_at=submission.created_at)
    else:
        due_at = _promised_due_at(submission=submission, lead=lead)
    return Callback.objects.create(
        lead_id=lead.pk,
        submission=submission,
        due_at=due_at,
        original_due_at=due_at,
        is_urgent=urgent,
    )


def submission_route_attached(*, submission: Submission, lead: Lead) -> Callback:
    """The routing of one submission marked processed and attached to ``lead`` (in the
    batch's transaction, ``routing_batch``): its lead's callback opened or joined
    (urgent for a crisis, with the supervisors' alert), its confirmations sent if the
    confirmation task has not sent them (it was lost, or is still queued) and moved to
    the lead, and, once the transaction commits, the instant call it may ring.
    Returns the callback."""
    callback = _callback_open_for(submission=submission, lead=lead)
    if callback.is_urgent:
        alert_raise(callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR)
    # Sent already by the confirmation task, or here if that task was lost.
    confirmations.submission_confirm(submission_id=submission.pk)
    notification_services.messages_recorrelate(
        correlation=confirmations.submission_correlation(submission.pk),
        to=f"lead:{lead.pk}",
    )
    # Once this commits, a request for a call may ring the available staff.
    instant_calls.instant_call_enqueue(submission=submission, lead=lead, callback=callback)
    return callback
