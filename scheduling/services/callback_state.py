"""A callback's own state, shared by the services that move it: who holds it, closing
it, putting it back in the queue, and a follow-up message to its lead. It imports no
other callback service, so routing, outcomes, bookings and crisis decisions can all use
it without importing each other."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from clinic.errors import ApplicationError
from scheduling.models import Callback
from scheduling.services.alerts import alerts_settle
from scheduling.services.outreach import lead_message


def callback_held(*, callback_id: int, user_id: int) -> Callback:
    """The live callback ``user_id`` holds, locked for the caller's transaction. An
    outcome is logged (or a consultation booked from the console) only by the holder:
    someone merely looking at a callback, a supervisor too, cannot close it."""
    callback = (
        Callback.objects.select_for_update()
        .select_related("lead", "submission")
        .filter(pk=callback_id)
        .first()
    )
    if callback is None or callback.status not in (Callback.Status.OPEN, Callback.Status.CLAIMED):
        raise ApplicationError("This callback is closed.", code="callback_closed", status_code=409)
    if callback.status != Callback.Status.CLAIMED:
        raise ApplicationError(
            "Take this callback before logging a call.", code="not_holder", status_code=409
        )
    if callback.claimed_by_id != user_id:
        raise ApplicationError(
            "Another coordinator holds this callback.", code="not_holder", status_code=409
        )
    return callback


def callback_close(callback: Callback, *, result: str, now: datetime) -> list[int]:
    """Close the callback and settle its open alerts; returns the alerts settled."""
    callback.status = Callback.Status.DONE
    callback.result = result
    callback.closed_at = now
    callback.claimed_by = None
    callback.lease_expires_at = None
    callback.save()
    return alerts_settle(callback_id=callback.pk, now=now, kept_too=True)


def callback_reopen(callback: Callback, *, retry_at: datetime) -> None:
    """Back in the queue at ``retry_at`` (its place kept by ``original_due_at``),
    nobody holding it."""
    callback.status = Callback.Status.OPEN
    callback.retry_at = retry_at
    callback.due_at = retry_at
    callback.claimed_by = None
    callback.claimed_at = None
    callback.lease_expires_at = None
    callback.patient_replied = False
    callback.escalation_level = 0
    callback.save()


def callback_follow_up(
    callback: Callback,
    *,
    purpose: str,
    template: str,
    sms: bool,
    email: bool = True,
    key: str = "",
    context: dict[str, str] | None = None,
) -> None:
    """A follow-up about this callback (see ``outreach.lead_message`` for the rules)."""
    lead_message(
        lead=callback.lead,
        purpose=purpose,
        template=template,
        context={"clinic_phone": settings.CLINIC_PHONE, **(context or {})},
        key=key or f"{template}:{callback.pk}",
        sms=sms,
        email=email,
    )
