"""Instant calls for new requests: while the clinic is open, a new request from someone
who asked for a call rings every available member of staff at once.

After routing commits (``callbacks.submission_route``), :func:`instant_call_enqueue`
hands the submission's id to a worker, whose :func:`instant_call_ring` decides whether
the request may ring anyone and places one bridged call (``services.calls``, kind
instant) to each available coordinator's confirmed phone, and to the available
supervisors too for a crisis request. The calls belong to one
:class:`~scheduling.models.InstantCallRound`: one per request, so a redelivered task
rings nobody twice, and one ringing round per callback. A member of staff is never
rung for two instant calls at once, nor while on another call.

The first to press 1 (:func:`instant_call_take`, from the call's webhook) takes the
callback's claim as claim-next would give it and is whispered the first name and
bridged; every other call of the round ends. Two presses in the same second are
serialised on the round's row: one bridge, one claim. Nobody pressing 1 in time
(:func:`instant_round_expire`) ends every call and leaves the callback in the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, QuerySet, Value, When
from django.utils import timezone

from clinic import business_time, roles
from clinic.errors import ApplicationError
from clinic.workers import enqueue
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead, Submission
from notifications.backends import TransportError
from notifications.voice import CallRequest, voice_backend
from scheduling import selectors
from scheduling.models import Call, Callback, CallLeg, InstantCallRound, StaffCallSettings
from scheduling.services import calls
from scheduling.services.alerts import alerts_settle

logger = logging.getLogger(__name__)
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

# A request older than this is no longer new (a task redelivered long after): it
# waits in the queue like any other.
FRESH_FOR = timedelta(minutes=5)
# Whoever answered while the phones rang still has this long to hear the prompt (said
# twice) and press 1.
PRESS_GRACE = timedelta(seconds=15)
# A call still live this long after it was placed is taken to have ended without
# telling us (its last status callback lost): it keeps nobody busy any more. Also the
# longest a call may last at the provider.
CALL_MAX = timedelta(hours=4)
# Calls placed (or ended) at the same moment, each through its own connection, so the
# tenth phone rings as soon as the first.
PROVIDER_THREADS = 10

# What a member of staff hears when pressing 1 did not give them the request.
SOMEONE_ELSE = "Someone else took it."
BACK_IN_QUEUE = "Nobody took it in time: the request is back in the queue."
GONE = "This call is no longer needed."


def _ringable_now(*, lead: Lead, submission: Submission, now: datetime) -> bool:
    """The clinic is open now, and now is within the best time that both the person
    (the lead) and this request asked for: a form may only narrow when we call."""
    if business_time.next_open(now) > now:
        return False
    for best_time, zone in (
        (lead.best_time, lead.timezone),
        (submission.best_time, submission.timezone),
    ):
        starts = business_time.callback_window(submitted_at=now, best_time=best_time, tz_name=zone)[
            "starts_at"
        ]
        if starts > now:
            return False
    return True


def _why_not(*, submission: Submission, callback: Callback | None, now: datetime) -> str:
    """Why this request may not ring anyone now (a code for the log, never personal
    data), or "" if it may. Anonymous input can only restrict: the person (the lead)
    and this request must both have asked for a call, the request gave the lead's own
    phone, and nothing refuses or defers calling them."""
    lead = submission.lead
    if lead is None or submission.is_spam or submission.cancelled_at is not None:
        return "not_a_request"
    if submission.created_at < now - FRESH_FOR:
        return "not_new"
    if (
        lead.preferred_channel != Lead.Channel.CALL
        or submission.preferred_channel != Lead.Channel.CALL
    ):
        return "no_call_asked"
    if not lead.phone or not submission.phone_hash or submission.phone_hash != lead.phone_hash:
        return "not_the_leads_phone"
    if submission.phone_limited:
        return "phone_limited"
    if callback is None or callback.status != Callback.Status.OPEN:
        return "not_in_queue"
    if callback.retry_at is not None and callback.retry_at > now:
        return "waiting_for_retry"
    if not settings.CLINIC_CALLER_ID:
        return "no_caller_id"
    if not _ringable_now(lead=lead, submission=submission, now=now):
        return "closed_or_not_their_time"
    if selectors.callback_refusals(callback=callback).shown:
        return "refused"
    try:
        # Whom a call for this callback would dial: closed, no phone, refused, or no
        # caller ID for a person who asked for discretion all say no.
        selectors.call_person(call=Call(callback=callback))
    except ApplicationError as error:
        return error.code
    return ""


def _staff_to_ring(*, urgent: bool, now: datetime) -> QuerySet[StaffCallSettings]:
    """Available coordinators (and supervisors, for a crisis) with a confirmed phone,
    active, and on no live call; in user order, so that two rounds taking the same
    phones at once take them in the same order (no deadlock)."""
    wanted = [roles.COORDINATOR, roles.SUPERVISOR] if urgent else [roles.COORDINATOR]
    busy = Call.objects.filter(ended_at__isnull=True, created_at__gt=now - CALL_MAX)
    return (
        selectors.staff_available_for_instant_calls()
        .filter(user__is_active=True, user__groups__name__in=wanted)
        .exclude(user_id__in=busy.values("coordinator_id"))
        .distinct()
        .order_by("user_id")
    )


@dataclass(frozen=True)
class _Ring:
    call_id: int
    phone: str


def instant_call_enqueue(*, submission: Submission, lead: Lead, callback: Callback) -> None:
    """Called in routing's transaction: once it commits, a worker sees whether this
    request rings the available staff. Only a request for a call from someone with a
    phone, into an open callback, while the clinic is open and someone is free to
    ring, is worth the task (one query; the task decides)."""
    now = timezone.now()
    if (
        submission.preferred_channel != Lead.Channel.CALL
        or lead.preferred_channel != Lead.Channel.CALL
        or not lead.phone
        or callback.status != Callback.Status.OPEN
        or business_time.next_open(now) > now
        or not _staff_to_ring(urgent=callback.is_urgent, now=now).exists()
    ):
        return

    submission_id = submission.pk
    transaction.on_commit(
        lambda: enqueue("scheduling.tasks.instant_call_ring", submission_id), robust=True
    )


def instant_call_ring(*, submission_id: int) -> InstantCallRound | None:
    """Ring every available member of staff for this new request, once: one call each
    to their confirmed phone from ``CLINIC_CALLER_ID``, ringing for
    ``INSTANT_CALL_RING_SECONDS``. Returns the round, or None when the request rings
    nobody (see :func:`_why_not`; nobody available; already rung; or a round for its
    callback is ringing). A call the provider refused is ended at once, so its member
    of staff is free for the next one."""
    now = timezone.now()
    submission = intake_selectors.submission_get(submission_id=submission_id)
    if submission is None or submission.lead_id is None:
        return None
    callback = (
        Callback.objects.select_related("lead")
        .filter(lead_id=submission.lead_id, status__in=selectors.LIVE)
        .first()
    )
    reason = _why_not(submission=submission, callback=callback, now=now)
    if reason:
        logger.debug("instant_calls.not_rung", extra={"submission": submission_id, "why": reason})
        return None
    assert callback is not None  # _why_not says so
    ring_for = timedelta(seconds=settings.INSTANT_CALL_RING_SECONDS)
    # A round of this callback past its time whose expiry never ran (the broker was
    # down) ends now, so it keeps no later request from ringing.
    for stale in InstantCallRound.objects.filter(
        callback=callback, status=InstantCallRound.Status.RINGING, take_until__lt=now
    ).values_list("pk", flat=True):
        instant_round_expire(round_id=stale)
    with transaction.atomic():
        staff = list(_staff_to_ring(urgent=callback.is_urgent, now=now))
        if not staff:
            return None
        try:
            with transaction.atomic():
                instant_round = InstantCallRound.objects.create(
                    callback=callback,
                    submission=submission,
                    take_until=now + ring_for + PRESS_GRACE,
                )
        except IntegrityError:
            return None  # rung already for this request, or ringing for its callback
        rings = _calls_create(instant_round=instant_round, staff=staff)
        if not rings:
            transaction.set_rollback(True)
            return None
    placed = _place(rings, ring_seconds=settings.INSTANT_CALL_RING_SECONDS)
    if not placed:
        _round_end(instant_round.pk, status=InstantCallRound.Status.UNANSWERED)
        return instant_round
    logger.info(
        "instant_calls.rung",
        extra={"round": instant_round.pk, "callback": callback.pk, "calls": placed},
    )
    _expiry_schedule(instant_round.pk, at=instant_round.take_until)
    return instant_round


def _calls_create(
    *, instant_round: InstantCallRound, staff: list[StaffCallSettings]
) -> list[_Ring]:
    """One instant call of the round for each member of ``staff``, stored as
    ``calls.call_create`` stores a call (its staff leg queued, ``recorded`` as
    ``CALL_RECORDING`` is now), in three statements whatever the number of phones. A
    member of staff just rung for another request is skipped: the database keeps one
    live instant call each, and a second is left out (``ON CONFLICT DO NOTHING``)."""
    # An instant call still live after CALL_MAX ended without telling us: it no longer
    # holds its member of staff's one place.
    Call.objects.filter(
        kind=Call.Kind.INSTANT,
        ended_at__isnull=True,
        coordinator_id__in=[member.user_id for member in staff],
        created_at__lte=timezone.now() - CALL_MAX,
    ).update(ended_at=timezone.now())
    Call.objects.bulk_create(
        [
            Call(
                callback_id=instant_round.callback_id,
                coordinator_id=member.user_id,
                kind=Call.Kind.INSTANT,
                instant_round=instant_round,
                recorded=settings.CALL_RECORDING,
            )
            for member in staff
        ],
        ignore_conflicts=True,
    )
    made = dict(
        Call.objects.filter(instant_round=instant_round).values_list("coordinator_id", "pk")
    )
    CallLeg.objects.bulk_create(
        [CallLeg(call_id=call_id, role=CallLeg.Role.COORDINATOR) for call_id in made.values()]
    )
    return [
        _Ring(call_id=made[member.user_id], phone=member.phone)
        for member in staff
        if member.user_id in made
    ]


def _place(rings: list[_Ring], *, ring_seconds: int) -> int:
    """Place the calls at the provider, all at once; keep each provider id, end each
    call the provider refused. Returns how many were placed."""

    def place(ring: _Ring) -> str | TransportError:
        hooks = calls.call_webhooks(call_id=ring.call_id)
        request = CallRequest(
            to=ring.phone,
            caller_id=settings.CLINIC_CALLER_ID,
            url=hooks.answer,
            status_callback=hooks.staff_status,
            timeout=ring_seconds,
            time_limit=int(CALL_MAX.total_seconds()),
        )
        try:
            return voice_backend().call_create(request)
        except TransportError as error:
            return error

    outcomes = _at_once(place, rings)
    placed: dict[int, str] = {}
    refused: list[int] = []
    for ring, outcome in zip(rings, outcomes, strict=True):
        if isinstance(outcome, TransportError):
            logger.warning(
                "instant_calls.place_failed", extra={"call": ring.call_id, "code": outcome.code}
            )
            refused.append(ring.call_id)
        else:
            placed[ring.call_id] = outcome
    if refused:
        Call.objects.filter(pk__in=refused, ended_at__isnull=True).update(ended_at=timezone.now())
    if placed:
        # Each call's provider id, in one statement (as ``calls.call_provider_id_set``:
        # a status callback that came first stored the same one already).
        CallLeg.objects.filter(
            call_id__in=placed, role=CallLeg.Role.COORDINATOR, provider_id__isnull=True
        ).update(
            provider_id=Case(
                *(When(call_id=call_id, then=Value(sid)) for call_id, sid in placed.items())
            )
        )
    return len(placed)


def _at_once(work: Callable[[_Item], _Result], items: list[_Item]) -> list[_Result]:
    """``work`` on every item at the same moment (provider requests, each through its
    own connection; no database work in them), the results in the items' order."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PROVIDER_THREADS, len(items))) as pool:
        return list(pool.map(work, items))


def _expiry_schedule(round_id: int, *, at: datetime) -> None:
    # Not scheduled when the broker is down: the phones stop ringing on their own
    # timeout, and the next ring of the callback closes the round.
    enqueue("scheduling.tasks.instant_call_expire", round_id, eta=at)


def _claim(callback_id: int, *, user_id: int, now: datetime) -> bool:
    """Claim the callback for ``user_id`` as claim-next would give it (ready: open, or
    claimed with a lapsed lease; not waiting for a retry), with a lease, its ordinary
    alerts settled and its lead moved to "contacting". False if it was not ready."""
    lease = timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    ready = Q(status=Callback.Status.OPEN) | Q(
        status=Callback.Status.CLAIMED, lease_expires_at__lte=now
    )
    claimed = Callback.objects.filter(
        ready, Q(retry_at__isnull=True) | Q(retry_at__lte=now), pk=callback_id
    ).update(
        status=Callback.Status.CLAIMED,
        claimed_by_id=user_id,
        claimed_at=now,
        lease_expires_at=now + lease,
    )
    if not claimed:
        return False
    alerts_settle(callback_id=callback_id, now=now)
    lead_id = Callback.objects.values_list("lead_id", flat=True).get(pk=callback_id)
    intake_services.lead_stage_advance(lead_id=lead_id, stage=Lead.Stage.CONTACTING)
    return True


def instant_call_take(*, call_id: int) -> str:
    """The member of staff on instant call ``call_id`` pressed 1. Returns "" when the
    request is theirs (its callback claimed by them; every other call of the round
    ended), else what they hear before their call ends: someone else took it, nobody
    took it in time, or the call is no longer needed. Presses of one round are taken
    one at a time (a lock on the round's row), so two in the same second give one
    bridge and one claim."""
    now = timezone.now()
    with transaction.atomic():
        call = Call.objects.filter(pk=call_id, kind=Call.Kind.INSTANT).first()
        if call is None or call.instant_round_id is None:
            return GONE
        instant_round = InstantCallRound.objects.select_for_update().get(pk=call.instant_round_id)
        if instant_round.status == InstantCallRound.Status.TAKEN:
            if instant_round.taken_by_id == call.coordinator_id and call.ended_at is None:
                return ""  # their own press, heard again
            calls.call_end(call_id=call.pk)
            return SOMEONE_ELSE
        if instant_round.status == InstantCallRound.Status.WITHDRAWN:
            calls.call_end(call_id=call.pk)
            return SOMEONE_ELSE
        if (
            instant_round.status != InstantCallRound.Status.RINGING
            or now > instant_round.take_until
        ):
            calls.call_end(call_id=call.pk)
            return BACK_IN_QUEUE
        if call.ended_at is not None:
            return GONE
        if not _claim(instant_round.callback_id, user_id=call.coordinator_id, now=now):
            # Claimed from the queue (or closed) while the phones rang.
            _round_close(instant_round, status=InstantCallRound.Status.WITHDRAWN, now=now)
            return SOMEONE_ELSE
        instant_round.status = InstantCallRound.Status.TAKEN
        instant_round.taken_by_id = call.coordinator_id
        instant_round.taken_at = now
        instant_round.save(update_fields=["status", "taken_by", "taken_at"])
        instant_round.calls.exclude(pk=call.pk).filter(ended_at__isnull=True).update(ended_at=now)
        transaction.on_commit(lambda: _hang_up_enqueue(instant_round.pk))
    logger.info("instant_calls.taken", extra={"round": instant_round.pk, "call": call_id})
    return ""


def _round_close(instant_round: InstantCallRound, *, status: str, now: datetime) -> None:
    """End the round (in the caller's transaction, its row locked) and every call of
    it; the provider is asked to hang them up after commit."""
    instant_round.status = status
    instant_round.ended_at = now
    instant_round.save(update_fields=["status", "ended_at"])
    instant_round.calls.filter(ended_at__isnull=True).update(ended_at=now)
    transaction.on_commit(lambda: _hang_up_enqueue(instant_round.pk))


def _round_end(round_id: int, *, status: str) -> None:
    with transaction.atomic():
        instant_round = (
            InstantCallRound.objects.select_for_update()
            .filter(pk=round_id, status=InstantCallRound.Status.RINGING)
            .first()
        )
        if instant_round is not None:
            _round_close(instant_round, status=status, now=timezone.now())


def _hang_up_enqueue(round_id: int) -> None:
    enqueue("scheduling.tasks.instant_call_hang_up", round_id)


def instant_round_expire(*, round_id: int) -> bool:
    """Nobody took the round in time: end every call of it (the callback stays in the
    queue as it was; nothing else changes). Early, or for a round taken or ended,
    nothing happens. True if it ended the round now."""
    now = timezone.now()
    with transaction.atomic():
        instant_round = (
            InstantCallRound.objects.select_for_update()
            .filter(pk=round_id, status=InstantCallRound.Status.RINGING)
            .first()
        )
        if instant_round is None or now < instant_round.take_until:
            return False
        _round_close(instant_round, status=InstantCallRound.Status.UNANSWERED, now=now)
    logger.info("instant_calls.unanswered", extra={"round": round_id})
    return True


def instant_round_hang_up(*, round_id: int) -> int:
    """Ask the provider to end every call of the round that is over for us (all but the
    taken one) and whose staff phone has not hung up yet. Ending a call that already
    ended is harmless; a failure is logged and left to the call's own timeout.
    Returns how many calls were asked to end."""
    legs = CallLeg.objects.filter(
        call__instant_round_id=round_id,
        call__ended_at__isnull=False,
        role=CallLeg.Role.COORDINATOR,
        provider_id__isnull=False,
    ).exclude(status__in=calls.FINAL)
    provider_ids = list(legs.values_list("provider_id", flat=True))
    if not provider_ids:
        return 0

    def hang_up(provider_id: str) -> bool:
        try:
            voice_backend().call_update(provider_id, status="completed")
        except TransportError as error:
            logger.warning("instant_calls.hang_up_failed", extra={"code": error.code})
            return False
        return True

    return sum(_at_once(hang_up, provider_ids))
