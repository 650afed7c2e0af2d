"""Reading the callback queue."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from scheduling.models import Callback

LIVE = [Callback.Status.OPEN, Callback.Status.CLAIMED]


def callback_queue() -> QuerySet[Callback]:
    """Live callbacks, most urgent first: crisis, then by the first due time."""
    return (
        Callback.objects.filter(status__in=LIVE)
        .select_related("lead", "submission__article", "claimed_by")
        .order_by("-is_urgent", "original_due_at", "pk")
    )


def callback_queue_counts() -> dict[str, int]:
    now = timezone.now()
    return Callback.objects.filter(status__in=LIVE).aggregate(
        open=Count("pk", filter=Q(status=Callback.Status.OPEN)),
        claimed=Count("pk", filter=Q(status=Callback.Status.CLAIMED)),
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        urgent=Count("pk", filter=Q(is_urgent=True)),
    )
