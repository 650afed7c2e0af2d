"""Taking back a closing outcome a coordinator logged by mistake, for a few minutes."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.audit.events import audit_context
from clinic.errors import ApplicationError
from intake import services as intake_services
from scheduling.models import CallAttempt, Callback, StaffAlert
from scheduling.services.attempts import CLOSING_OUTCOMES
from scheduling.services.refusals import lead_refusal_withdraw

ATTEMPT_UNDO_WINDOW = CallAttempt.UNDO_WINDOW


def attempt_undoable_until(attempt: CallAttempt) -> datetime | None:
    """Until when ``attempt`` may be undone, or None if it never may (not a closing
    outcome, or undone already). Whether it still can is ``attempt_undo``'s to say."""
    if attempt.outcome not in CLOSING_OUTCOMES or attempt.undone_at or not attempt.undo_state:
        return None
    return attempt.created_at + ATTEMPT_UNDO_WINDOW


def attempt_undo(*, attempt_id: int, user_id: int) -> CallAttempt:
    """Take back a closing outcome (not interested, wrong number, do not contact)
    within ``ATTEMPT_UNDO_WINDOW``, by the coordinator who logged it, in one
    transaction: the callback is theirs again (claimed, a fresh lease), the lead is
    back at its stage before, the refusal this attempt recorded is taken back with its
    opt-out (unless the person has since asked to stop themselves,
    ``notifications.refusals.refusal_withdraw``), the alerts it settled are open again.
    The attempt stays on record, marked undone; the audit trail has every change,
    tagged ``attempt.undo``. Refused (``ApplicationError``) for anyone else, after the
    window, twice, or when the person has a newer request open."""
    now = timezone.now()
    with transaction.atomic(), audit_context(action="attempt.undo", attempt=attempt_id):
        attempt = CallAttempt.objects.select_for_update().filter(pk=attempt_id).first()
        if attempt is None:
            raise ApplicationError("No such call.", code="not_found", status_code=404)
        if attempt.coordinator_id != user_id:
            raise ApplicationError(
                "Only the coordinator who logged this call can undo it.",
                code="not_yours",
                status_code=403,
            )
        until = attempt_undoable_until(attempt)
        if until is None:
            raise ApplicationError(
                "This call cannot be undone.", code="not_undoable", status_code=409
            )
        if now > until:
            raise ApplicationError(
                "Too late to undo: ask a supervisor.", code="undo_expired", status_code=409
            )
        callback = (
            Callback.objects.select_for_update().select_related("lead").get(pk=attempt.callback_id)
        )
        later = CallAttempt.objects.filter(callback=callback, created_at__gt=attempt.created_at)
        if callback.status != Callback.Status.DONE or later.exists():
            raise ApplicationError(
                "This callback has moved on since.", code="not_undoable", status_code=409
            )
        state = attempt.undo_state
        intake_services.lead_close_undo(lead_id=callback.lead_id, stage=state["stage"])
        callback.status = Callback.Status.CLAIMED
        callback.result = ""
        callback.closed_at = None
        callback.claimed_by_id = user_id
        callback.claimed_at = now
        callback.lease_expires_at = now + timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
        try:
            with transaction.atomic():
                callback.save()
        except IntegrityError:  # the person's newer request has the lead's live callback
            raise ApplicationError(
                "The person has a newer request open: work that one instead.",
                code="not_undoable",
                status_code=409,
            ) from None
        if "refusal" in state:
            lead_refusal_withdraw(
                lead=callback.lead,
                user_id=user_id,
                since=attempt.created_at,
                state=state["refusal"],
            )
        StaffAlert.objects.filter(pk__in=state.get("alerts", [])).update(resolved_at=None)
        attempt.undone_at = now
        attempt.undone_by_id = user_id
        attempt.save(update_fields=["undone_at", "undone_by"])
    return attempt
