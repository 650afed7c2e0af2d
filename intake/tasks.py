from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from intake.models import IdempotencyKey
from intake.services import cta_event_counts_flush as flush_counts


@shared_task(acks_late=True, reject_on_worker_lost=True)
def idempotency_keys_prune() -> int:
    """Forget Idempotency-Keys older than their 24-hour life."""
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# Not acks_late: a redelivered flush after a crash could add the same events twice;
# a lost one only leaves them in the cache for the next minute.
@shared_task(time_limit=55, soft_time_limit=50)
def cta_event_counts_flush() -> int:
    """Every minute: move the cached CTA event counters into ArticleDailyCount."""
    return flush_counts()
