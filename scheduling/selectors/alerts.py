"""Staff alerts: the open ones, each coordinator's, why each was raised, and the
supervisor's board."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from clinic import roles
from intake import selectors as intake_selectors
from scheduling.models import (
    Callback,
    StaffAlert,
)
from scheduling.selectors.queue import LIVE, callback_queue


def staff_alerts_open() -> QuerySet[StaffAlert]:
    """Open alerts for the coordinators on duty or the supervisors (not the notices
    addressed to one coordinator, see :func:`console_alerts`)."""
    return (
        StaffAlert.objects.filter(resolved_at__isnull=True)
        .exclude(audience=StaffAlert.Audience.COORDINATOR)
        .select_related("callback")
    )


def console_alerts(*, user_id: int, limit: int = 20) -> tuple[list[StaffAlert], list[StaffAlert]]:
    """For the console, in one query: open alerts for the coordinators on duty or the
    supervisors, and this user's notices (callbacks a supervisor gave them that they
    have not opened yet, with the person's first name), notices first."""
    rows = list(
        StaffAlert.objects.filter(resolved_at__isnull=True)
        .filter(
            ~Q(audience=StaffAlert.Audience.COORDINATOR)
            | Q(recipient_id=user_id, callback__status__in=LIVE)
        )
        .select_related("callback__lead")
        .order_by(F("recipient_id").asc(nulls_last=True), "-created_at")[:limit]
    )
    notices = [row for row in rows if row.audience == StaffAlert.Audience.COORDINATOR]
    return [row for row in rows if row not in notices], notices


def alert_reason(alert: StaffAlert, *, crisis: bool) -> str:
    """Why the alert was raised, in words a supervisor acts on (no personal data)."""
    callback = alert.callback
    kind = alert.kind
    if kind == StaffAlert.Kind.URGENT:
        if crisis:
            return "Crisis request: not reached yet"
        return "Urgent: a missed call to the clinic, not called back yet"
    if kind == StaffAlert.Kind.CRISIS_DECISION:
        tries = callback.unanswered_attempts
        return (
            f"Crisis request not reached after {tries} call{'' if tries == 1 else 's'}: "
            "decide whether to keep trying or close it"
        )
    if kind == StaffAlert.Kind.UNCLAIMED:
        return "Past its due time and nobody has taken it"
    if kind == StaffAlert.Kind.PATIENT_REPLIED:
        return "The person replied by text"
    if kind == StaffAlert.Kind.ASSIGNED:
        return (
            "A supervisor gave you a crisis callback"
            if crisis
            else "A supervisor gave you a callback"
        )
    return StaffAlert.Kind(kind).label


# The board's lists, each with its count: the count is of the same filter, so what a
# count says is what its list holds (the first BOARD_ROWS are shown, "and N more" after).
BOARD_ROWS = 100


DUE_SOON = timedelta(minutes=30)


def _board_filters(now: datetime) -> dict[str, Q]:
    return {
        # Every live urgent callback, also one waiting for its next (crisis) try.
        "urgent": Q(is_urgent=True),
        "overdue": Q(due_at__lt=now),
        "due_soon": Q(due_at__gte=now, due_at__lt=now + DUE_SOON),
        "in_progress": Q(status=Callback.Status.CLAIMED),
    }


@dataclass
class BoardAlert:
    """An open alert as the board shows it: whose, why, since when."""

    alert: StaffAlert
    first_name: str
    crisis: bool
    reason: str
    deciding: bool  # a crisis awaiting the supervisor's decision
    errors: dict[str, str] = field(default_factory=dict)  # a refused decision's, by field


def supervisor_board() -> dict[str, Any]:
    """The supervisor's board: counts and lists of urgent, overdue, due-soon and
    in-progress callbacks, open alerts (with the person's first name, why and since
    when), and load per coordinator."""
    now = timezone.now()
    filters = _board_filters(now)
    live = Callback.objects.filter(status__in=LIVE)
    counts = live.aggregate(**{name: Count("pk", filter=q) for name, q in filters.items()})
    lists = {name: list(callback_queue().filter(q)[:BOARD_ROWS]) for name, q in filters.items()}
    alerts_open = staff_alerts_open().select_related("callback__lead", "acknowledged_by")
    counts["alerts"] = alerts_open.count()
    # What needs a supervisor most first: a decision, then a crisis; oldest first.
    first = Case(
        When(kind=StaffAlert.Kind.CRISIS_DECISION, then=Value(0)),
        When(kind=StaffAlert.Kind.URGENT, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    alerts = list(alerts_open.order_by(first, "created_at", "pk")[:BOARD_ROWS])
    shown = [callback for rows in lists.values() for callback in rows]
    shown += [alert.callback for alert in alerts]
    crisis = intake_selectors.lead_ids_in_crisis(
        lead_ids=sorted({callback.lead_id for callback in shown})
    )
    for callback in shown:
        callback.crisis = callback.is_urgent and callback.lead_id in crisis
    deciding = {
        alert.callback_id for alert in alerts if alert.kind == StaffAlert.Kind.CRISIS_DECISION
    }
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[roles.COORDINATOR, roles.SUPERVISOR])
        .distinct()
        .annotate(
            holding=Count(
                "claimed_callbacks",
                filter=Q(claimed_callbacks__status=Callback.Status.CLAIMED),
                distinct=True,
            ),
            calls_today=Count(
                "call_attempts",
                filter=Q(call_attempts__created_at__gte=now - timedelta(hours=24)),
                distinct=True,
            ),
        )
        .order_by("username")
    )
    return {
        "now": now,
        **lists,
        "more": {name: counts[name] - len(rows) for name, rows in lists.items()},
        "deciding": deciding,
        "load": users,
        "alerts": [
            BoardAlert(
                alert=alert,
                first_name=alert.callback.lead.first_name,
                crisis=alert.callback.crisis,
                reason=alert_reason(alert, crisis=alert.callback.crisis),
                deciding=alert.kind == StaffAlert.Kind.CRISIS_DECISION,
            )
            for alert in alerts
        ],
        "counts": counts,
    }
