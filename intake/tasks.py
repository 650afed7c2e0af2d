from __future__ import annotations

import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from clinic.workers import enqueue
from intake.models import IdempotencyKey
from intake.services import cta_event_counts_flush as flush_counts
from intake.services import funnel_event_counts_sync as sync_event_counts
from intake.services import funnel_rollups_rebuild as rebuild_rollups
from intake.services import leads_retention_anonymise as retention_anonymise
from intake.services import webhook_deliver as deliver_webhook
from intake.services import webhook_ids_due as due_webhook_ids
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


# A try is claimed in the database before it is made, so a redelivered task does not
# send twice at once; a try whose worker died is the sweep's once its lease passes.
@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=90, soft_time_limit=80)
def webhook_deliver(delivery_id: int) -> str:
    """One try of an outbound webhook; a retry due soon is queued for its time, a later
    one is left to the sweep."""
    outcome = deliver_webhook(delivery_id=delivery_id)
    due = outcome.next_attempt_at
    if due is not None and due - timezone.now() <= WEBHOOK_RETRY_QUEUE_WITHIN:
        enqueue("intake.tasks.webhook_deliver", delivery_id, eta=due)
    return outcome.result


# Retries due within this are queued with their time; later ones wait for the sweep
# (a broker holding many long countdowns is what the sweep spares it).
WEBHOOK_RETRY_QUEUE_WITHIN = timedelta(minutes=5)
# One sweep makes at most this many tries, and starts none after this many seconds.
WEBHOOK_SWEEP_MAX = 50
WEBHOOK_SWEEP_SECONDS = 30


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def webhooks_sweep() -> int:
    """Every minute: try the webhooks that are due and nobody is trying (a task lost
    with the broker, a worker that died mid-try, a retry left for later)."""
    stop_at = time.monotonic() + WEBHOOK_SWEEP_SECONDS
    tried = 0
    for delivery_id in due_webhook_ids(limit=WEBHOOK_SWEEP_MAX):
        if time.monotonic() >= stop_at:
            break
        if deliver_webhook(delivery_id=delivery_id).result != "skipped":
            tried += 1
    return tried
