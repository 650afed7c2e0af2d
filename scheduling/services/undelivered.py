"""What the clinic does when a message to a lead will not arrive."""

from __future__ import annotations

import logging

from django.db import transaction

from clinic.workers import enqueue
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message, OptOut
from scheduling import links
from scheduling.services import confirmations

logger = logging.getLogger(__name__)

# The dedupe key scheduling.services.confirmations gives a submission's confirmation text.
CONFIRMATION_SMS_KEY_PREFIX = "confirmation:sms:submission:"
# Failures that mean the person told us to stop texting: no fallback either.
STOPPED_ERRORS = frozenset({"opted_out", "21610"})
STOPPED_REASONS = frozenset({OptOut.Reason.OPTED_OUT, OptOut.Reason.CARRIER})


def undelivered_enqueue(*, message_id: int) -> bool:
    """Hand a message that finally failed to the workers, which decide on a fallback."""
    return enqueue("scheduling.tasks.message_undelivered_process", message_id)


def confirmation_fallback_send(*, message_id: int) -> Message | None:
    """A submission's confirmation text will not arrive (failed for good, its retry
    budget spent, or the carrier reported it undelivered): email the confirmation to
    the address given in that same submission instead, at most once.

    Nothing is sent when the message is anything else, when the submission gave no
    email address, when the person opted out of texts (STOP, or the carrier's
    opt-out) or the lead is closed or anonymised. Returns the email, if any."""
    message = notification_selectors.message_get(message_id=message_id)
    if (
        message is None
        or message.channel != Message.Channel.SMS
        or message.purpose != Message.Purpose.CONFIRMATION
        or message.status not in (Message.Status.FAILED, Message.Status.UNDELIVERED)
        or not (message.dedupe_key or "").startswith(CONFIRMATION_SMS_KEY_PREFIX)
        or message.error_code in STOPPED_ERRORS
    ):
        return None
    submission_id = message.dedupe_key.removeprefix(CONFIRMATION_SMS_KEY_PREFIX)
    if not submission_id.isdecimal():
        return None
    block = notification_selectors.sms_block_get(phone=message.recipient)
    if block is not None and block.reason in STOPPED_REASONS:
        return None
    with transaction.atomic():
        # Locked, so routing cannot attach the request before this email is recorded
        # and then miss it when it moves the request's messages to the lead.
        submission = intake_services.submission_lock(submission_id=int(submission_id))
        if submission is None or submission.is_spam or not submission.email:
            return None
        lead = intake_selectors.lead_get(lead_id=submission.lead_id) if submission.lead_id else None
        if lead is not None and (lead.stage == Lead.Stage.CLOSED or lead.anonymised_at is not None):
            return None
        # As the confirmation itself: the submission's wish, and the open lead's when the
        # address is that lead's own (attached yet or not).
        discreet = (
            not submission.mention_clinic_ok
            or intake_selectors.open_lead_discretion(
                phone_hash="", email_hash=submission.email_hash
            ).email
        )
        return notification_services.message_send(
            channel=Message.Channel.EMAIL,
            purpose=Message.Purpose.CONFIRMATION,
            recipient=submission.email,
            # No name: the address is the form's, nobody verified it. A crisis request's
            # fallback keeps the 988 and 911 lines of its confirmation.
            template="text_undelivered_crisis" if submission.is_crisis else "text_undelivered",
            context={
                "manage_url": links.request_manage_url(
                    submission_id=submission.pk, email_hash=submission.email_hash
                ),
            },
            # Before routing attached the request: about the request until it does.
            correlation=f"lead:{lead.pk}"
            if lead is not None
            else confirmations.submission_correlation(submission.pk),
            dedupe_key=f"confirmation-fallback:email:submission:{submission.pk}",
            discreet=discreet,
        )
