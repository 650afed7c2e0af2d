"""The record of a bridged call, and what Twilio reports about its legs.

A bridged call rings a member of staff's own phone first, and on their "1" dials the
person from the clinic's caller ID (see ``notifications.bridged_call_twiml`` for what
each side hears, ``scheduling.call_webhooks`` for the webhooks that serve it). This
module keeps the record those webhooks read: :func:`call_create` stores the call
before it is placed, :func:`call_provider_id_set` the provider's id once placed,
:func:`call_leg_status_record` every status callback (idempotent and monotonic: a
repeated or late callback changes nothing; the person's leg ending logs the call's
attempt, ``services.call_log``), :func:`call_end` ends it for good.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Call, CallLeg
from scheduling.services import call_log, conversations

logger = logging.getLogger(__name__)

# How far each status is along a leg's life; a callback never moves a leg back.
STATUS_RANK = {
    CallLeg.Status.QUEUED: 0,
    CallLeg.Status.INITIATED: 1,
    CallLeg.Status.RINGING: 2,
    CallLeg.Status.IN_PROGRESS: 3,
    CallLeg.Status.COMPLETED: 4,
    CallLeg.Status.BUSY: 4,
    CallLeg.Status.NO_ANSWER: 4,
    CallLeg.Status.FAILED: 4,
    CallLeg.Status.CANCELED: 4,
}
FINAL = frozenset(status for status, rank in STATUS_RANK.items() if rank == 4)
# The moment each status stamps on the leg (the first time it is heard of).
STATUS_MOMENT = {
    CallLeg.Status.INITIATED: "initiated_at",
    CallLeg.Status.RINGING: "ringing_at",
    CallLeg.Status.IN_PROGRESS: "answered_at",
    **dict.fromkeys(FINAL, "ended_at"),
}
# How long the person's phone rings before the Dial gives up.
PERSON_RING_SECONDS = 30


@dataclass(frozen=True)
class CallWebhooks:
    """The absolute URLs (under ``PUBLIC_BASE_URL``) Twilio is given for one call.
    Only the call's id is in them: numbers are read from the database."""

    answer: str  # the member of staff's phone answered: the press-1 prompt
    connect: str  # the prompt's <Gather> action: Digits
    person: str  # the person's phone answered (<Number url>): notice or voicemail
    dial_ended: str  # the Dial's action: the person's leg ended
    staff_status: str  # status callbacks of the member of staff's leg
    person_status: str  # status callbacks of the person's leg


def call_webhooks(*, call_id: int) -> CallWebhooks:
    def url(name: str, **kwargs: object) -> str:
        path = reverse(f"webhooks:{name}", kwargs={"call_id": call_id, **kwargs})
        return settings.PUBLIC_BASE_URL + path

    return CallWebhooks(
        answer=url("call-answer"),
        connect=url("call-connect"),
        person=url("call-person"),
        dial_ended=url("call-dial-ended"),
        staff_status=url("call-status", leg=CallLeg.Role.COORDINATOR),
        person_status=url("call-status", leg=CallLeg.Role.PERSON),
    )


def call_create(*, callback_id: int, coordinator_id: int, kind: str) -> Call:
    """Store a bridged call about to be placed for ``callback_id``, ringing
    ``coordinator_id``'s phone first, with its staff leg queued. Whether the call may
    be placed (who holds the callback, a verified phone, the person's wishes) is the
    caller's to decide first; ``recorded`` is ``CALL_RECORDING`` now."""
    if kind not in Call.Kind.values:
        raise ValueError(f"Unknown call kind {kind!r}")
    with transaction.atomic():
        call = Call.objects.create(
            callback_id=callback_id,
            coordinator_id=coordinator_id,
            kind=kind,
            recorded=settings.CALL_RECORDING,
        )
        CallLeg.objects.create(call=call, role=CallLeg.Role.COORDINATOR)
    return call


def call_provider_id_set(*, call_id: int, provider_id: str) -> bool:
    """The provider placed the call as ``provider_id`` (its staff leg). True if stored
    now; a status callback may have stored it first (then equal, still True)."""
    updated = CallLeg.objects.filter(
        call_id=call_id, role=CallLeg.Role.COORDINATOR, provider_id__isnull=True
    ).update(provider_id=provider_id)
    if updated:
        return True
    return CallLeg.objects.filter(
        call_id=call_id, role=CallLeg.Role.COORDINATOR, provider_id=provider_id
    ).exists()


def call_end(*, call_id: int) -> bool:
    """Nothing more may happen on the call (it ended, or another member of staff took
    it): its webhooks only hang up from now on. True if it was still going."""
    return bool(
        Call.objects.filter(pk=call_id, ended_at__isnull=True).update(ended_at=timezone.now())
    )


def _moment(timestamp: str) -> datetime:
    """Twilio's ``Timestamp`` (RFC 2822) of a callback, or now without one."""
    try:
        moment = parsedate_to_datetime(timestamp) if timestamp else None
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        return timezone.now()
    return moment


def call_leg_status_record(
    *,
    call_id: int,
    role: str,
    provider_id: str,
    status: str,
    timestamp: str = "",
    duration_seconds: int | None = None,
    answered_by: str = "",
) -> bool:
    """Apply one status callback of a call's leg. Idempotent and monotonic: the status
    only moves forward (a late "ringing" after "completed" changes it not), each
    moment is stamped the first time it is heard of (from Twilio's ``Timestamp``, so
    callbacks delivered out of order still give the right times), and a callback for
    an unknown call, or naming another leg's id, changes nothing. A staff leg that
    ended ends the call. Returns True if anything changed."""
    if status not in STATUS_RANK or role not in CallLeg.Role.values or not provider_id:
        return False
    moment = _moment(timestamp)
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id).first()
        if call is None:
            return False
        leg, changed = CallLeg.objects.get_or_create(call=call, role=role)
        if leg.provider_id is None:
            leg.provider_id = provider_id
            changed = True
        elif leg.provider_id != provider_id:
            logger.warning("calls.status_for_another_leg", extra={"call": call_id, "leg": role})
            return False
        if STATUS_RANK[status] > STATUS_RANK[leg.status]:
            leg.status = status
            changed = True
        stamp = STATUS_MOMENT.get(status)
        if stamp and getattr(leg, stamp) is None:
            setattr(leg, stamp, moment)
            changed = True
        if duration_seconds is not None and status in FINAL and leg.duration_seconds is None:
            leg.duration_seconds = max(0, duration_seconds)
            changed = True
        if answered_by and not leg.answered_by:
            leg.answered_by = answered_by[:30]
            changed = True
        if not changed:
            return False
        try:
            with transaction.atomic():
                leg.save()
        except IntegrityError:
            # The id is another leg's already: a confused callback, ignored.
            logger.warning("calls.status_duplicate_id", extra={"call": call_id, "leg": role})
            return False
        if role == CallLeg.Role.COORDINATOR and leg.status in FINAL and call.ended_at is None:
            call.ended_at = leg.ended_at or moment
            call.save(update_fields=["ended_at"])
        if role == CallLeg.Role.PERSON and leg.status in FINAL:
            # The call logs itself: its one attempt, written or brought up to date.
            call_log.call_attempt_record(call=call)
    conversations.call_leg_ended(call_id=call_id, status=leg.status)
    return True
