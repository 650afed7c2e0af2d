"""A person calling the clinic's tracking numbers: the callback their call opens, or the
missed call it becomes."""

from __future__ import annotations

from django.db import transaction
from phonenumber_field.phonenumber import to_python

from clinic.workers import enqueue
from intake import selectors as intake_selectors
from intake import services as intake_services
from notifications import selectors as notification_selectors
from scheduling.models import Callback, StaffAlert
from scheduling.services.alerts import alert_raise
from scheduling.services.routing_batch import submission_route


def call_enqueue(*, call_id: int, missed: bool) -> bool:
    task = "call_missed_process" if missed else "call_process"
    return enqueue(f"scheduling.tasks.{task}", call_id)


def call_route(*, call_id: int) -> Callback | None:
    """A call to an article's tracking number becomes a submission from that article
    (once per call), routed like a web request: the caller's open lead, one live
    callback. A withheld number cannot be called back and is only counted."""
    call = notification_selectors.call_get(call_id=call_id)
    if call is None or not call.caller:
        return None
    caller = to_python(call.caller)
    if caller is None or not caller.is_valid():
        return None
    # Keyed by the call, so a redelivered task replays instead of recording it again.
    outcome = intake_services.lead_submit_call(
        caller=caller,
        article_id=intake_selectors.article_id_for_tracking_number(number=call.called),
        idempotency_key=f"call:{call.provider_id}",
    )
    routed = submission_route(submission_id=outcome.submission.pk)
    if routed is not None:
        return routed
    # Routed before (a redelivered task): the lead it was attached to then.
    lead_id = intake_selectors.submission_lead_id(submission_id=outcome.submission.pk)
    return Callback.objects.filter(
        lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()


def call_missed_route(*, call_id: int) -> Callback | None:
    """Nobody at the clinic answered the forwarded call: the caller's callback is made
    urgent (first in the queue) and a supervisor is alerted."""
    call = notification_selectors.call_get(call_id=call_id)
    if call is None or not call.caller:
        return None
    caller = to_python(call.caller)
    lead_id = intake_selectors.lead_id_open_for_phone(phone=str(caller)) if caller else None
    if lead_id is None:
        # The call's own task has not run yet: record it now (idempotent).
        call_route(call_id=call_id)
        lead_id = intake_selectors.lead_id_open_for_phone(phone=str(caller)) if caller else None
    with transaction.atomic():
        callback = (
            Callback.objects.select_for_update()
            .filter(lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED])
            .first()
        )
        if callback is None:
            return None
        if not callback.is_urgent:
            callback.is_urgent = True
            callback.save(update_fields=["is_urgent"])
        alert_raise(callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR)
    return callback
