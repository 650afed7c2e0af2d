"""The clinic's work: routing each new submission, and the callback queue."""

from __future__ import annotations

import logging
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.celery import enqueue
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead, Submission
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message
from scheduling import business_time
from scheduling.models import Callback

logger = logging.getLogger(__name__)

CONFIRMATION_SMS_PER_NUMBER_WINDOW = timedelta(hours=24)


def _callback_open_for(*, submission: Submission) -> Callback:
    """The lead's live callback, or a new one due by the speed-to-lead clock."""
    live = Callback.objects.filter(
        lead_id=submission.lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()
    if live is not None:
        return live
    due_at = business_time.callback_due_at(submitted_at=submission.created_at)
    return Callback.objects.create(
        lead_id=submission.lead_id,
        submission=submission,
        due_at=due_at,
        original_due_at=due_at,
    )


def _sms_confirmation_allowed(*, submission: Submission, lead: Lead) -> bool:
    if not lead.phone:
        return False
    if not intake_selectors.submission_sms_consent_granted(submission_id=submission.pk):
        return False
    # SMS pumping: premium-rate and foreign numbers get a call or an email, not a text.
    region = phonenumbers.region_code_for_number(lead.phone)
    if region not in settings.SMS_ALLOWED_COUNTRIES:
        return False
    return not notification_selectors.message_sent_recently(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.CONFIRMATION,
        recipient=str(lead.phone),
        since=timezone.now() - CONFIRMATION_SMS_PER_NUMBER_WINDOW,
    )


def submission_route(*, submission_id: int) -> Callback | None:
    """Queue the callback and send the confirmations for one submission, once.

    Safe to call again for the same submission (a redelivered task or the sweep):
    the first call marks the submission processed in the same transaction, and
    later calls do nothing. Spam is marked processed and gets nothing. Returns
    the lead's live callback, or None when there was nothing to do."""
    submission = intake_selectors.submission_get(submission_id=submission_id)
    if submission is None:
        return None
    with transaction.atomic():
        if not intake_services.submission_mark_processed(submission_id=submission_id):
            return None
        if submission.is_spam:
            return None
        lead = submission.lead
        callback = _callback_open_for(submission=submission)
        context = {
            "first_name": submission.first_name,
            "callback_window": business_time.callback_window_phrase(
                due_at=callback.due_at, now=timezone.now(), tz_name=lead.timezone
            ),
        }
        correlation = f"lead:{lead.pk}"
        if _sms_confirmation_allowed(submission=submission, lead=lead):
            notification_services.message_send(
                channel=Message.Channel.SMS,
                purpose=Message.Purpose.CONFIRMATION,
                recipient=str(lead.phone),
                template="confirmation",
                context=context,
                correlation=correlation,
                dedupe_key=f"confirmation:sms:submission:{submission.pk}",
            )
        if lead.email:
            notification_services.message_send(
                channel=Message.Channel.EMAIL,
                purpose=Message.Purpose.CONFIRMATION,
                recipient=lead.email,
                template="confirmation",
                context=context,
                correlation=correlation,
                dedupe_key=f"confirmation:email:submission:{submission.pk}",
            )
    return callback


def submission_enqueue(*, submission_id: int) -> bool:
    """Hand a submission to the workers; if the broker is down it stays unprocessed
    and ``submissions_sweep`` hands it over later."""
    from scheduling.tasks import submission_process

    return enqueue(submission_process, submission_id)


def reply_enqueue(*, inbound_id: int) -> bool:
    from scheduling.tasks import reply_process

    return enqueue(reply_process, inbound_id)


def callback_mark_replied(*, inbound_id: int) -> int:
    """A person texted us: their live callback moves up the queue as "patient
    replied". Returns how many callbacks were marked."""
    inbound = notification_selectors.inbound_get(inbound_id=inbound_id)
    if inbound is None:
        return 0
    return Callback.objects.filter(
        lead__phone=inbound.sender, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).update(patient_replied=True)


def callback_claim_next(*, user_id: int, lease: timedelta | None = None) -> Callback | None:
    """Give the coordinator the most urgent open callback, atomically.

    A coordinator holding a live claim gets that one back. Otherwise the first
    open callback in queue order (urgent, then by original due time) whose lease
    is free is locked with ``SKIP LOCKED`` so concurrent claimers never get the
    same row, and claimed with a lease. Returns None when the queue is empty."""
    lease = lease or timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    now = timezone.now()
    with transaction.atomic():
        held = (
            Callback.objects.select_for_update()
            .filter(claimed_by_id=user_id, status=Callback.Status.CLAIMED, lease_expires_at__gt=now)
            .first()
        )
        if held is not None:
            held.lease_expires_at = now + lease
            held.save(update_fields=["lease_expires_at"])
            return held
        candidate = (
            Callback.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=Callback.Status.OPEN)
                | Q(status=Callback.Status.CLAIMED, lease_expires_at__lte=now)
            )
            .order_by("-is_urgent", "original_due_at", "pk")
            .first()
        )
        if candidate is None:
            return None
        candidate.status = Callback.Status.CLAIMED
        candidate.claimed_by_id = user_id
        candidate.claimed_at = now
        candidate.lease_expires_at = now + lease
        candidate.save(update_fields=["status", "claimed_by", "claimed_at", "lease_expires_at"])
        intake_services.lead_stage_advance(lead_id=candidate.lead_id, stage=Lead.Stage.CONTACTING)
    return candidate


def callback_release(*, callback_id: int, user_id: int) -> bool:
    """Put a claimed callback back in the queue. Only its holder may release it."""
    return bool(
        Callback.objects.filter(
            pk=callback_id, claimed_by_id=user_id, status=Callback.Status.CLAIMED
        ).update(
            status=Callback.Status.OPEN, claimed_by=None, claimed_at=None, lease_expires_at=None
        )
    )
