from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from intake.models import IdempotencyKey
from intake.services import cta_event_counts_flush as flush_counts
from intake.services import funnel_event_counts_sync as sync_event_counts
from intake.services import funnel_rollups_rebuild as rebuild_rollups
from intake.services import leads_retention_anonymise as retention_anonymise
from intake.services.events import clinic_day


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


@shared_task(time_limit=55, soft_time_limit=50)
def funnel_event_counts_sync() -> int:
    """Every minute: copy today's and yesterday's CTA event counts into the rollups."""
    today = clinic_day()
    return sync_event_counts(days=[today - timedelta(days=1), today])


# A nightly rebuild mends every rollup row in one transaction; a second run after a
# crash does the same work again and no harm. Its own soft limit: the default 45 s
# would stop it at any real size (minutes at 5 M leads, see bench/reports.py).
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=3 * 3600 - 60,
    time_limit=3 * 3600,
)
def funnel_rollups_rebuild() -> int:
    """Nightly: rebuild the funnel rollups from the raw rows (and log any drift)."""
    return rebuild_rollups()


# Each lead is anonymised in its own transaction; a redelivered run skips those done.
@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=3600, soft_time_limit=3500)
def leads_retention_anonymise() -> int:
    """Nightly: anonymise leads closed without admission more than RETENTION_DAYS ago."""
    return retention_anonymise()
