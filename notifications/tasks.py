"""Workers' entry points for messaging. Ids in, services do the work."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import selectors, services

# Bounded so the last retry lands minutes, not an hour, after the first try:
# far below the broker's visibility timeout.
MAX_RETRIES = 6


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def message_deliver(self, message_id: int) -> None:
    retries = self.request.retries
    # Exponential backoff with jitter: about 2, 4, 8... seconds, capped at 5 minutes.
    retry_in = (
        None if retries >= MAX_RETRIES else services.retry_jitter(min(300, 2 ** (retries + 1)))
    )
    try:
        services.message_deliver(message_id=message_id, retry_in=retry_in)
    except services.TransientDeliveryError as error:
        raise self.retry(exc=error, countdown=retry_in) from error


@shared_task(acks_late=True)
def messages_sweep() -> dict[str, int]:
    """Every minute: queue messages nobody picked up, reconcile ones whose worker died."""
    stuck = selectors.message_ids_stuck(older_than=timezone.now() - settings.MESSAGE_STUCK_AFTER)
    for message_id in stuck["due"]:
        services.message_enqueue(message_id=message_id)
    for message_id in stuck["sending"]:
        services.message_reconcile(message_id=message_id)
    return {name: len(ids) for name, ids in stuck.items()}
