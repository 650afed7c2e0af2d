"""Call attempts: the ones a coordinator may still undo, the last one logged, and whether
their shortcuts are on."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from scheduling.models import (
    CallAttempt,
    Callback,
    ConsolePreference,
)


def attempts_undoable(*, user_id: int, now: datetime | None = None) -> QuerySet[CallAttempt]:
    """The closing outcomes ``user_id`` logged that they may still take back
    (``services.attempt_undo``), newest first, with their callback and lead."""
    now = now or timezone.now()
    return (
        CallAttempt.objects.filter(
            coordinator_id=user_id,
            undone_at__isnull=True,
            created_at__gt=now - CallAttempt.UNDO_WINDOW,
            callback__status=Callback.Status.DONE,
        )
        .exclude(undo_state={})
        .select_related("callback__lead")
        .order_by("-created_at")
    )


def console_shortcuts_enabled(*, user_id: int) -> bool:
    """Whether the user keeps the console's single-key shortcuts (on until turned off)."""
    enabled = (
        ConsolePreference.objects.filter(user_id=user_id)
        .values_list("shortcuts_enabled", flat=True)
        .first()
    )
    return enabled is not False


def attempt_get(*, attempt_id: int) -> CallAttempt | None:
    return (
        CallAttempt.objects.select_related("callback__lead", "coordinator")
        .filter(pk=attempt_id)
        .first()
    )


def attempt_last(*, callback_id: int, user_id: int) -> CallAttempt | None:
    """The last call ``user_id`` logged on the callback."""
    return (
        CallAttempt.objects.filter(callback_id=callback_id, coordinator_id=user_id)
        .order_by("-created_at", "-pk")
        .first()
    )
