"""Workers' entry points for scheduling. Ids in, services do the work."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from intake import selectors as intake_selectors
from scheduling import services
from scheduling.services import (
    click_to_call,
    confirmations,
    conversations,
    instant_calls,
    recordings,
    undelivered,
    waitlist,
)

# Tasks that record what a person did: idempotent, so redelivered after a crash and
# retried with backoff (bounded far below the broker's visibility timeout).
RECORDING_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (Exception,),
    "max_retries": 5,
    "retry_backoff": True,
    "retry_backoff_max": 120,
    "retry_jitter": True,
}


@shared_task(**RECORDING_TASK)
def submission_confirm(submission_id: int) -> None:
    """Send a new submission's confirmations at once, from the submission alone (before
    routing; once, whoever comes first), then hand them to the provider here rather
    than wait for a delivery task (idempotent: a redelivery sends nothing twice)."""
    confirmations.submission_confirm(submission_id=submission_id)
    # Routing leaves a request to this task for a moment (ROUTING_CONFIRMATION_GRACE):
    # now that it is confirmed, the router may take it, while the text goes out here.
    services.routing_kick()
    confirmations.submission_confirmations_deliver(submission_id=submission_id)


@shared_task(**RECORDING_TASK)
def submission_process(submission_id: int) -> None:
    """Queue the callback and confirmations of one submission (idempotent). New
    submissions kick ``submissions_route_batch`` instead; this one serves messages
    published before the batch router."""
    services.submission_route(submission_id=submission_id)


@shared_task(**RECORDING_TASK)
def submissions_route_batch() -> dict[str, int]:
    """Kicked by new submissions: route what is waiting, in batches, for about 20 s
    (services.routing_batch); a batch that dies is redone as a whole (idempotent)."""
    run = services.submissions_route_pending()
    return {"routed": run.routed, "failed": run.failed, "batches": run.batches}


@shared_task(**RECORDING_TASK)
def reply_process(inbound_id: int) -> None:
    """A person texted us: "C"/"R" answer their appointment, anything else marks their
    callback "patient replied" (idempotent)."""
    services.reply_route(inbound_id=inbound_id)


@shared_task(acks_late=True)
def submissions_sweep() -> int:
    """Every minute: kick the router when submissions wait past SUBMISSION_SWEEP_AFTER
    (a kick lost with the broker down, a web process killed between commit and kick,
    a submission whose routing failed). Returns how many were waiting."""
    pending = intake_selectors.submission_ids_unprocessed(
        older_than=timezone.now() - settings.SUBMISSION_SWEEP_AFTER
    )
    if pending:
        services.routing_kick(force=True)
    return len(pending)


@shared_task(acks_late=True)
def callbacks_escalate() -> dict[str, int]:
    """Every minute: alert about callbacks waiting past their due time."""
    return services.callbacks_escalate()


@shared_task(acks_late=True)
def callback_leases_expire() -> int:
    """Every minute: return callbacks whose holder's lease ran out to the queue."""
    return services.callback_leases_expire()


@shared_task(acks_late=True)
def appointment_reminders_send() -> int:
    """Every five minutes: queue the 24-hour and 2-hour consultation reminders."""
    return services.appointment_reminders_send()


@shared_task(acks_late=True)
def waitlist_offers_make() -> int:
    """When a consultation time may have opened (a cancellation, a move, new hours) and
    every five minutes: offer open times to the waitlist (idempotent: a time has one
    open offer, a person one). Returns how many offers were made."""
    return waitlist.waitlist_offers_make()


@shared_task(**RECORDING_TASK)
def call_process(call_id: int) -> None:
    """A call to a tracking number: record it as a submission (idempotent)."""
    services.call_route(call_id=call_id)


@shared_task(**RECORDING_TASK)
def call_missed_process(call_id: int) -> None:
    """A forwarded call nobody answered: make the caller's callback urgent."""
    services.call_missed_route(call_id=call_id)


@shared_task(**RECORDING_TASK)
def message_undelivered_process(message_id: int) -> None:
    """A message to a lead finally failed: email a confirmation text's content instead
    (once, where allowed)."""
    undelivered.confirmation_fallback_send(message_id=message_id)


# Instant calls: a phone rings while these run, so they retry quickly or not at all.
INSTANT_CALL_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (Exception,),
    "max_retries": 2,
    "retry_backoff": 1,
    "retry_backoff_max": 4,
    "retry_jitter": False,
}


@shared_task(**INSTANT_CALL_TASK)
def instant_call_ring(submission_id: int) -> None:
    """A new request from someone who asked for a call: ring the available staff
    (once per request, whatever the redeliveries)."""
    instant_calls.instant_call_ring(submission_id=submission_id)


@shared_task(acks_late=True)
def instant_call_expire(round_id: int) -> None:
    """The round's time is up: if nobody took it, end its calls (the callback stays in
    the queue)."""
    instant_calls.instant_round_expire(round_id=round_id)


@shared_task(**INSTANT_CALL_TASK)
def instant_call_hang_up(round_id: int) -> None:
    """End, at the provider, the calls of a round that are over for us."""
    instant_calls.instant_round_hang_up(round_id=round_id)


# Recordings of bridged calls (services.recordings): Twilio calls are retried after a
# short wait; a run of the beat task that leaves some undone is run again next time.
RECORDING_RETRY_SECONDS = 60


@shared_task(bind=True, acks_late=True, max_retries=3)
def call_recordings_expire(self) -> dict[str, int]:
    """Every hour: delete at Twilio the recordings past CALL_RECORDING_RETENTION_DAYS
    (a bounded batch; idempotent). Twilio unreachable for some: retried in a minute,
    up to three times; what is still left waits for the next run."""
    result = recordings.call_recordings_expire()
    if result.transient and self.request.retries < self.max_retries:
        raise self.retry(countdown=RECORDING_RETRY_SECONDS)
    if result.more and result.deleted:
        # More were due than one batch: the next batch at once, not in an hour (only
        # while batches delete something: refusals wait for the next hour).
        call_recordings_expire.apply_async(countdown=1)
    return {"deleted": result.deleted, "transient": result.transient, "refused": result.refused}


@shared_task(acks_late=True)
def call_recordings_sweep() -> int:
    """Every ten minutes: ask Twilio for the recordings of recorded calls whose
    recording status callback never arrived."""
    return recordings.call_recordings_sweep()


@shared_task(**RECORDING_TASK)
def conversation_message_sent(message_id: int) -> None:
    """A coordinator's text left: outreach, and maybe a completed exchange (idempotent)."""
    conversations.conversation_message_sent(message_id=message_id)


@shared_task(**RECORDING_TASK)
def conversation_reply_received(inbound_id: int) -> None:
    """A person texted: maybe a completed exchange with a coordinator (idempotent)."""
    conversations.conversation_reply_received(inbound_id=inbound_id)


@shared_task(**INSTANT_CALL_TASK)
def call_place(call_id: int) -> None:
    """A coordinator pressed "Call": place the stored click-to-call at the provider
    (once: a call placed or ended already is left alone)."""
    click_to_call.call_place(call_id=call_id)
