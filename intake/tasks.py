from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from intake.models import IdempotencyKey


@shared_task(acks_late=True, reject_on_worker_lost=True)
def idempotency_keys_prune() -> int:
    """Forget Idempotency-Keys older than their 24-hour life."""
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
