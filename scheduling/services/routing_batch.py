"""New requests routed in batches: claimed N at a time, attached, queued and confirmed in
one transaction per batch, and the hand-off from the public POST to the router.

A new submission does not publish a task of its own: it *kicks* the router
(:func:`routing_kick`), which publishes ``scheduling.tasks.submissions_route_batch``
only when no kick is pending. The task clears the kick before it claims, so a
submission committed while it runs kicks again; a task that finds a full batch kicks
too, so an idle worker process takes the next batch beside it (``SKIP LOCKED`` keeps
them apart). A lost kick (broker down) is made good by ``submissions_sweep``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction

from clinic.workers import enqueue
from intake import services as intake_services
from intake.models import Lead, Submission
from scheduling.models import Callback
from scheduling.services.routing import submission_route_attached

logger = logging.getLogger(__name__)

ROUTING_KICK_KEY = "routing:kick"
# While set, a router task is published and has not started: no other is needed.
ROUTING_KICK_SECONDS = 10
# A task routes batches for about this long, then hands over to a fresh task (well
# under CELERY_TASK_SOFT_TIME_LIMIT), so one burst never holds a worker process.
ROUTING_RUN_SECONDS = 20.0
ROUTER_TASK = "scheduling.tasks.submissions_route_batch"
# The database went away: the batch is redone as a whole, nothing is skipped.
TRANSIENT = (OperationalError, InterfaceError)


@dataclass
class BatchResult:
    """One batch: how many submissions it claimed, the callback of each routed one (None
    for spam), and those whose routing failed (left unprocessed for the sweep)."""

    claimed: int = 0
    routed: dict[int, Callback | None] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)


@dataclass
class RoutingRun:
    routed: int = 0
    failed: int = 0
    batches: int = 0
    more: bool = False


def _isolated(
    submission: Submission, failed: set[int], *, raise_errors: bool, step: Callable[[], Any]
) -> Any:
    """Run one submission's step in a savepoint: an error rolls back only its work and
    leaves it unprocessed (logged by id only); the database going away aborts the batch."""
    try:
        with transaction.atomic():
            return step()
    except TRANSIENT:
        raise
    except Exception as error:
        if raise_errors:
            raise
        failed.add(submission.pk)
        logger.warning(
            "routing.submission_failed",
            extra={"submission_id": submission.pk, "error": type(error).__name__},
        )
        return None


def submissions_route_batch(
    *,
    limit: int | None = None,
    submission_ids: Collection[int] | None = None,
    exclude_ids: Collection[int] = (),
    raise_errors: bool = False,
) -> BatchResult:
    """Route up to ``limit`` (``ROUTING_BATCH_SIZE``) unprocessed submissions, crisis
    first then oldest, in one transaction: each attached to its person
    (``intake.services.batch_attach``), all marked processed in one statement with their
    consent rows in one insert, then each one's callback queued and confirmations sent
    (:func:`routing.submission_route_attached`), and the funnel counts added once per
    rollup row. The same as routing them one by one (a person's two requests in one
    batch go to one lead and one callback), except that within a batch every
    submission's answers are recorded before the first confirmation goes, so the more
    restrictive of them holds for all (a "no" to texts, a wish for discretion).

    Idempotent: a batch that dies commits nothing and is claimed again; a routed
    submission is never claimed again. A submission whose routing raises is left
    unprocessed for the sweep (``raise_errors`` raises instead, for one submission)
    and the rest commit. Instant calls are enqueued after commit, as before."""
    failed: set[int] = set()
    result = BatchResult(failed=failed)
    with transaction.atomic():
        claimed = intake_services.submissions_claim(
            limit=limit or settings.ROUTING_BATCH_SIZE,
            submission_ids=submission_ids,
            exclude_ids=exclude_ids,
        )
        result.claimed = len(claimed)
        if not claimed:
            return result
        batch = intake_services.AttachBatch()
        leads: dict[int, Lead | None] = {}
        for submission in claimed:

            def attach(submission: Submission = submission) -> None:
                leads[submission.pk] = intake_services.submission_attach_batched(
                    batch=batch, submission=submission
                )

            _isolated(submission, failed, raise_errors=raise_errors, step=attach)
        attached = [submission for submission in claimed if submission.pk not in failed]
        intake_services.submissions_attach_flush(batch=batch, submissions=attached)
        for submission in attached:
            lead = leads[submission.pk]
            if lead is None:
                result.routed[submission.pk] = None
                continue

            def route(submission: Submission = submission, lead: Lead = lead) -> Callback:
                return submission_route_attached(submission=submission, lead=lead)

            callback = _isolated(submission, failed, raise_errors=raise_errors, step=route)
            if submission.pk not in failed:
                result.routed[submission.pk] = callback
        intake_services.submissions_unprocess(
            submission_ids=[s.pk for s in attached if s.pk in failed]
        )
        intake_services.submissions_attach_rollups(batch=batch)
    return result


def submission_route(*, submission_id: int) -> Callback | None:
    """Attach one stored submission to its person, queue the callback and send the
    confirmations, once: the batch router's path for this one submission, whose
    errors are raised (a task retries it).

    Safe to call again for the same submission (a redelivered task or the sweep):
    later calls do nothing. Spam is marked processed and gets nothing. Returns the
    lead's live callback, or None when there was nothing to do."""
    result = submissions_route_batch(submission_ids=[submission_id], raise_errors=True)
    return result.routed.get(submission_id)


def submissions_route_pending(*, seconds: float = ROUTING_RUN_SECONDS) -> RoutingRun:
    """The router task's run: clear the kick, then route batches until one is not full
    or ``seconds`` have passed; then, if work may be left, kick a fresh task. A
    submission that failed is not claimed again in this run (the sweep retries it)."""
    cache.delete(ROUTING_KICK_KEY)
    size = settings.ROUTING_BATCH_SIZE
    deadline = time.monotonic() + seconds
    run = RoutingRun()
    failed: set[int] = set()
    while True:
        started = time.monotonic()
        result = submissions_route_batch(limit=size, exclude_ids=failed)
        failed |= result.failed
        run.batches += 1
        run.routed += len(result.routed)
        run.failed = len(failed)
        if result.claimed < size or not result.routed:
            return run
        # More are waiting: an idle worker process may take the next batch beside this one.
        routing_kick(fan_out=True)
        # Another batch as long as this one would end past the deadline (on a loaded
        # machine, past the task's soft time limit, which rolls that batch back): hand
        # over to a fresh task instead.
        if time.monotonic() + (time.monotonic() - started) >= deadline:
            run.more = True
            routing_kick()
            return run


def routing_kick(*, force: bool = False, fan_out: bool = False) -> bool:
    """Make sure a router task is coming: publish one unless a kick is pending
    (``SET routing:kick 1 NX EX 10``), or always with ``force`` (the sweep). A publish
    that fails clears the kick, so the next submission tries again; the submission is
    durable and the sweep routes it anyway. Returns whether a task was published.
    ``fan_out`` (a running router asking for a helper) publishes nothing in eager mode,
    where that router goes on itself."""
    if fan_out and current_app.conf.task_always_eager:
        return False
    if force:
        cache.set(ROUTING_KICK_KEY, 1, timeout=ROUTING_KICK_SECONDS)
    elif not cache.add(ROUTING_KICK_KEY, 1, timeout=ROUTING_KICK_SECONDS):
        return False
    if enqueue(ROUTER_TASK):
        return True
    cache.delete(ROUTING_KICK_KEY)
    return False
