"""The callback queue: claiming the next callback in order, holding it (renew, assign,
release, lapsed leases), and escalating callbacks nobody took."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from clinic.errors import ApplicationError
from intake import services as intake_services
from intake.models import Lead
from scheduling.models import Callback, StaffAlert
from scheduling.services import claims
from scheduling.services.alerts import alert_raise, alerts_settle, callback_assigned_notify


def _ready(now: datetime) -> QuerySet[Callback]:
    """Callbacks a coordinator may take now: open, or claimed with a lapsed lease,
    and not waiting for a retry time."""
    return Callback.objects.filter(
        Q(status=Callback.Status.OPEN)
        | Q(status=Callback.Status.CLAIMED, lease_expires_at__lte=now),
        Q(retry_at__isnull=True) | Q(retry_at__lte=now),
    )


def _queue_tiers(now: datetime) -> list[QuerySet[Callback]]:
    """The ready queue in priority order, as index-backed slices: urgent (crisis),
    then overdue, then those whose person replied, then the rest; each by original
    due time, so a retried callback keeps its place. (``claims.CLAIM_NEXT_SQL`` is the
    same order in SQL; change both together.)"""
    ready = _ready(now).order_by("original_due_at", "pk")
    # Overdue rows are found through the due-time index (usually there are none, and
    # scanning the queue in original-due order to learn that is the slow way); the
    # hundred most overdue are then taken in queue order.
    overdue = _ready(now).filter(due_at__lt=now).order_by("due_at").values("pk")[:100]
    return [
        ready.filter(is_urgent=True),
        ready.filter(pk__in=overdue),
        ready.filter(patient_replied=True),
        ready,
    ]


def callback_claim_next(*, user_id: int, lease: timedelta | None = None) -> Callback | None:
    """Give the coordinator the best callback that is ready, atomically.

    A coordinator holding a live claim gets that one back, its lease renewed (one
    claim each, unless a supervisor assigns more; two claim-nexts of the same
    coordinator at once are taken one after the other). Otherwise the first ready
    callback in queue order (see :func:`_queue_tiers`) is locked with ``SKIP LOCKED``
    so concurrent claimers never get the same row, and claimed with a lease; its
    ordinary alerts are settled (an urgent one stays, see ``alerts``) and its lead
    moves to "contacting". Returns None when nothing is ready.

    On PostgreSQL the claim is one round trip (``scheduling.services.claims``) and the
    lead's stage one UPDATE more."""
    lease = lease or timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    now = timezone.now()
    if connection.vendor != "postgresql":
        return _claim_next_portable(user_id=user_id, now=now, lease=lease)
    with transaction.atomic():
        claimed = claims.claim_next(user_id=user_id, now=now, until=now + lease)
        if claimed is None:
            return None
        if claimed.fresh:
            intake_services.lead_stage_advance(
                lead_id=claimed.callback.lead_id, stage=Lead.Stage.CONTACTING
            )
    return claimed.callback


def _claim_next_portable(*, user_id: int, now: datetime, lease: timedelta) -> Callback | None:
    """The same claim through the ORM, for SQLite (which serialises writers, so the
    one-claim rule needs no lock of its own)."""
    with transaction.atomic():
        held = (
            Callback.objects.select_for_update()
            .filter(claimed_by_id=user_id, status=Callback.Status.CLAIMED, lease_expires_at__gt=now)
            .order_by("claimed_at", "pk")
            .first()
        )
        if held is not None:
            held.lease_expires_at = now + lease
            held.save(update_fields=["lease_expires_at"])
            return held
        for tier in _queue_tiers(now):
            candidate = tier.select_for_update(skip_locked=True).first()
            if candidate is not None:
                _claim(candidate, user_id=user_id, now=now, lease=lease)
                return candidate
    return None


def _claim(callback: Callback, *, user_id: int, now: datetime, lease: timedelta) -> None:
    callback.status = Callback.Status.CLAIMED
    callback.claimed_by_id = user_id
    callback.claimed_at = now
    callback.lease_expires_at = now + lease
    callback.save(update_fields=["status", "claimed_by", "claimed_at", "lease_expires_at"])
    alerts_settle(callback_id=callback.pk, now=now)
    intake_services.lead_stage_advance(lead_id=callback.lead_id, stage=Lead.Stage.CONTACTING)


def callback_renew(*, callback_id: int, user_id: int, lease: timedelta | None = None) -> bool:
    """Extend the holder's lease while they work on the callback."""
    lease = lease or timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    now = timezone.now()
    return bool(
        Callback.objects.filter(
            pk=callback_id,
            claimed_by_id=user_id,
            status=Callback.Status.CLAIMED,
            lease_expires_at__gt=now,
        ).update(lease_expires_at=now + lease)
    )


def callback_assign(
    *,
    callback_id: int,
    to_user_id: int,
    lease: timedelta | None = None,
    by_user_id: int | None = None,
) -> Callback:
    """A supervisor gives a live callback to a coordinator (also one already
    claimed by someone else, and on top of any claim the coordinator holds). The
    coordinator is told (a console banner, and an email where they have an address)
    unless they gave it to themselves; an urgent (crisis) alert stays open."""
    lease = lease or timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    now = timezone.now()
    with transaction.atomic():
        callback = (
            Callback.objects.select_for_update()
            .filter(pk=callback_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED])
            .first()
        )
        if callback is None:
            raise ApplicationError(
                "This callback is closed.", code="callback_closed", status_code=409
            )
        _claim(callback, user_id=to_user_id, now=now, lease=lease)
        if to_user_id != by_user_id:
            callback_assigned_notify(callback, to_user_id=to_user_id)
    return callback


def callback_release(*, callback_id: int, user_id: int) -> bool:
    """Put a claimed callback back in the queue. Only its holder may release it."""
    return bool(
        Callback.objects.filter(
            pk=callback_id, claimed_by_id=user_id, status=Callback.Status.CLAIMED
        ).update(
            status=Callback.Status.OPEN, claimed_by=None, claimed_at=None, lease_expires_at=None
        )
    )


def callback_leases_expire() -> int:
    """Return callbacks whose holder's lease ran out to the open queue."""
    return Callback.objects.filter(
        status=Callback.Status.CLAIMED, lease_expires_at__lte=timezone.now()
    ).update(status=Callback.Status.OPEN, claimed_by=None, claimed_at=None, lease_expires_at=None)


def callbacks_escalate() -> dict[str, int]:
    """Alert about callbacks nobody has taken: 5 minutes past due the on-duty pool,
    15 minutes past due a supervisor. Each alert goes once per callback."""
    now = timezone.now()
    counts = {"pool": 0, "supervisor": 0}
    live = Callback.objects.filter(status=Callback.Status.OPEN).filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    steps = (
        (2, StaffAlert.Audience.SUPERVISOR, settings.ESCALATE_SUPERVISOR_AFTER),
        (1, StaffAlert.Audience.POOL, settings.ESCALATE_POOL_AFTER),
    )
    for level, audience, after in steps:
        for callback in live.filter(due_at__lte=now - after, escalation_level__lt=level):
            if alert_raise(callback, kind=StaffAlert.Kind.UNCLAIMED, audience=audience):
                counts[audience] += 1
            Callback.objects.filter(pk=callback.pk, escalation_level__lt=level).update(
                escalation_level=level
            )
    return counts
