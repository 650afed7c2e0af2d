"""A person's refusal on the callback page: recording it from a call, acknowledging a
"previously refused" callback before a call is logged, lifting it when the person
asks again, and the one "reply YES to get texts" invitation (issue 20, items 1-2).

The refusal itself is notifications' (``notifications.refusals``): it belongs to the
person's phone and email, and no form lifts it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import refusals as notification_refusals
from notifications import sms_invites
from notifications.models import Message
from scheduling import selectors
from scheduling.models import Callback

# How a refusal recorded from the console reached us.
REFUSAL_SOURCE = "call: asked not to be contacted"


def lead_refusal_record(*, lead: Lead, user_id: int) -> dict[str, str | None]:
    """The person said on a call not to contact them: their phone and email are
    refused, for good, whatever a later form says (``notifications.refusals``).
    Returns what :func:`lead_refusal_withdraw` needs to take it back (the number's
    stop before), kept on the attempt for its undo."""
    phone = str(lead.phone) if lead.phone else ""
    before = notification_refusals.refusal_restricted_before(phone=phone)
    notification_refusals.refusal_record(
        phone=phone, email=lead.email, recorded_by_id=user_id, source=REFUSAL_SOURCE
    )
    return {"restricted_before": before.isoformat() if before else None}


def lead_refusal_withdraw(
    *, lead: Lead, user_id: int, since: datetime, state: dict[str, str | None]
) -> int:
    """Take back the refusal ``user_id`` recorded for ``lead`` at ``since`` (an undone
    "do not contact"), with the number's stop as it was before (``state`` from
    :func:`lead_refusal_record`)."""
    before = state.get("restricted_before")
    return notification_refusals.refusal_withdraw(
        phone=str(lead.phone) if lead.phone else "",
        email=lead.email,
        recorded_by_id=user_id,
        since=since,
        restricted_before=datetime.fromisoformat(before) if before else None,
    )


def callback_refusal_check(*, callback: Callback) -> None:
    """Raise (409) while a refusal that concerns ``callback`` waits to be acknowledged:
    a coordinator must have read it before logging a call."""
    if selectors.callback_refusals(callback=callback).pending:
        raise ApplicationError(
            "This person asked not to be contacted before. Read the refusal on the "
            "callback page and acknowledge it before logging a call.",
            code="refusal_unacknowledged",
            status_code=409,
        )


def _callback(callback_id: int, *, lock: bool = False) -> Callback:
    callbacks = Callback.objects.select_for_update() if lock else Callback.objects
    callback = callbacks.filter(pk=callback_id).first()
    if callback is None:
        raise ApplicationError("No such callback.", code="not_found", status_code=404)
    return callback


def callback_refusal_acknowledge(*, callback_id: int, user_id: int) -> selectors.CallbackRefusals:
    """The coordinator read the refusals that concern this callback (when, by whom,
    which channel): calls may be logged on it until another refusal is recorded. The
    acknowledgement (who, when) is on the callback's audit trail. Returns the
    refusals acknowledged."""
    with transaction.atomic():
        callback = _callback(callback_id, lock=True)
        refusals = selectors.callback_refusals(callback=callback)
        if refusals.shown:
            callback.refusal_acknowledged_at = timezone.now()
            callback.refusal_acknowledged_by_id = user_id
            callback.save(update_fields=["refusal_acknowledged_at", "refusal_acknowledged_by"])
    return selectors.CallbackRefusals(shown=refusals.shown, pending=False)


def lead_refusal_lift(*, callback_id: int, user_id: int, note: str) -> int:
    """The person told the coordinator they want to be contacted again: the refusals of
    the lead's own phone and email are lifted, with ``note`` (what they said; required)
    and who heard it. Details another request gave are not the lead's until confirmed
    with the person, so their refusals stay (409 when the lead's own are not refused).
    Texts still need the phone's own yes. Returns how many were lifted."""
    callback = _callback(callback_id)
    if not selectors.callback_refusals(callback=callback).liftable:
        raise ApplicationError(
            "Neither this person's phone nor their email is refused. A refusal of details "
            "another request gave is lifted once those details are confirmed with the person.",
            code="no_refusal",
            status_code=409,
        )
    lead = callback.lead
    return notification_refusals.refusal_lift(
        phone=str(lead.phone) if lead.phone else "",
        email=lead.email,
        lifted_by_id=user_id,
        note=note,
    )


def lead_sms_consent_invite(*, callback_id: int, user_id: int) -> Message:
    """After asking the person on the call, the coordinator sends the one "reply YES to
    get texts" to the lead's phone: for a number whose consent no form can give (it
    said no, or stopped texts). Never twice to a number, never to a number that opted
    out or is refused (``notifications.sms_invites``), not to a line that cannot take
    texts, and not when texts are allowed already."""
    lead = _callback(callback_id).lead
    if not lead.phone:
        raise ApplicationError("There is no phone number to text.", code="no_phone")
    if not intake_selectors.lead_sms_reachable(lead_id=lead.pk):
        raise ApplicationError("This number cannot take texts.", code="unreachable")
    if intake_selectors.sms_permission(phone=lead.phone, lead_id=lead.pk).allowed:
        raise ApplicationError(
            "This person already agreed to texts.", code="sms_allowed", status_code=409
        )
    return sms_invites.sms_consent_invite_send(
        phone=str(lead.phone),
        invited_by_id=user_id,
        correlation=f"lead:{lead.pk}",
        discreet=not intake_selectors.lead_contact_preferences(lead_id=lead.pk).mention_clinic_ok,
        crisis=intake_selectors.lead_in_crisis(lead_id=lead.pk),
    )
