"""Workers' entry points for messaging. Ids in, services do the work."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import selectors, services

# A transient failure is retried by the task itself only while the wait is short
# and the tries few; longer waits belong to messages_sweep, which hands the message
# over again once its next_attempt_at has passed. No task sleeps or waits long.
SHORT_RETRIES = 5


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=SHORT_RETRIES,
)
def message_deliver(self, message_id: int) -> None:
    try:
        services.message_deliver(message_id=message_id)
    except services.TransientDeliveryError as error:
        if (
            error.retry_in <= settings.MESSAGE_RETRY_TASK_COUNTDOWN_MAX_SECONDS
            and self.request.retries < SHORT_RETRIES
        ):
            raise self.retry(exc=error, countdown=error.retry_in) from error


# One sweep hands over at most this many due messages, in batches, and starts no new
# batch after this many seconds (the task's soft time limit is 45 s).
SWEEP_MAX_MESSAGES = 500
SWEEP_MAX_SECONDS = 20


@shared_task(acks_late=True)
def messages_sweep() -> dict[str, int]:
    """Every minute: deliver, in batches, messages nobody picked up or due for another
    try (or past their retry budget, to be failed); reconcile ones whose worker died."""
    older_than = timezone.now() - settings.MESSAGE_STUCK_AFTER
    batch = settings.MESSAGE_DELIVERY_BATCH_SIZE
    stop_at = time.monotonic() + SWEEP_MAX_SECONDS
    due = 0
    while due < SWEEP_MAX_MESSAGES and time.monotonic() < stop_at:
        handled = services.messages_deliver_due(
            limit=min(batch, SWEEP_MAX_MESSAGES - due), older_than=older_than
        )
        due += handled
        if handled < batch:
            break
    stuck = selectors.message_ids_stuck(older_than=older_than)
    for message_id in stuck["sending"]:
        services.message_reconcile(message_id=message_id)
    return {"due": due, "sending": len(stuck["sending"])}
