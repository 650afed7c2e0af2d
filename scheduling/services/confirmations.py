"""Each new request confirmed at once, from the request alone: the text and email that
say "we got your request", sent before (and without waiting for) lead matching and
routing, exactly once whoever comes first (the confirmation task or routing)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from clinic import business_time
from clinic.workers import enqueue
from intake import next_contact
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Submission
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message
from scheduling import links

CONFIRMATION_PER_ADDRESS_WINDOW = timedelta(hours=24)
CONFIRMATION_SMS_KEY = "confirmation:sms:submission:{}"
CONFIRMATION_EMAIL_KEY = "confirmation:email:submission:{}"

# pg_advisory_xact_lock(CONFIRMATION_LOCK, recipient): one confirmation decided at a
# time per number and per address, held to the end of the transaction that records
# it. Two requests with the same number are not serialised by any row (their leads
# may not exist yet): without it both could find no confirmation sent today.
CONFIRMATION_LOCK = 0x434E4631  # "CNF1"
_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, %s)"


def submission_correlation(submission_id: int) -> str:
    """What a request's messages are about until it is attached to its lead (then they
    are re-correlated to ``lead:{pk}``, ``notification_services.messages_recorrelate``)."""
    return f"submission:{submission_id}"


def confirmation_enqueue(*, submission_id: int) -> bool:
    """Hand a new request's confirmations to the confirmation workers; if the broker is
    down, routing (handed over by the sweep) sends them."""
    return enqueue("scheduling.tasks.submission_confirm", submission_id)


def _confirmed_today(*, channel: str, recipient: str) -> bool:
    """One confirmation per number and per address a day: a form cannot be used to
    flood a phone or an inbox."""
    return notification_selectors.message_sent_recently(
        channel=channel,
        purpose=Message.Purpose.CONFIRMATION,
        recipient=recipient,
        since=timezone.now() - CONFIRMATION_PER_ADDRESS_WINDOW,
    )


def _sms_confirmation_allowed(*, submission: Submission) -> bool:
    """A text to the number this submission gave (with consent, under its limit: the
    caller checked), if that consent counts for the number
    (``intake.selectors.submission_sms_permission``: not after a "no" or a stop that
    only the phone itself can undo, even one not routed yet). A landline gets a call; a
    number outside the allowed countries (SMS pumping) gets a call or an email, never
    a text; one confirmation per number a day."""
    phone = submission.phone
    permission = intake_selectors.submission_sms_permission(submission=submission)
    # An opted-out or refused number is left to message_send, which records the text as
    # suppressed (staff see why nothing went); a consent that does not count sends nothing.
    if permission.reason in ("declined", "no_consent"):
        return False
    if not intake_selectors.phone_sms_reachable(
        phone=phone, phone_type=intake_services.phone_type_of(phone)
    ):
        return False
    return not _confirmed_today(channel=Message.Channel.SMS, recipient=str(phone))


def confirmation_template(submission: Submission) -> str:
    """The confirmation's wording, from the submission alone (never the lead): a crisis
    gets "as soon as we can" and the 988 and 911 lines; otherwise the person hears
    back the way the CTA's answer said (``next_contact.submission_contact_channel``):
    "will text you" with a phone that takes texts and consent to them, "will email
    you" when asked for or when only an address was given, else "will call you"."""
    if submission.is_crisis:
        return "confirmation_crisis"
    return {
        next_contact.TEXT: "confirmation_by_text",
        next_contact.EMAIL: "confirmation_by_email",
        next_contact.CALL: "confirmation",
    }[next_contact.submission_contact_channel(submission)]


def _lock_key(hashed: str) -> int:
    """A signed 32-bit key from a recipient's keyed hash (hex): a collision only makes
    two confirmations wait for each other."""
    return int(hashed[:8], 16) - 2**31


def _recipients_lock(*, hashes: list[str]) -> None:
    """Serialise, until the transaction ends, the confirmations to these recipients
    (PostgreSQL; SQLite runs one writing transaction at a time anyway). Taken in one
    order, so two requests that share a number and an address cannot deadlock."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted({_lock_key(hashed) for hashed in hashes if hashed}):
            cursor.execute(_LOCK_SQL, [CONFIRMATION_LOCK, key])


def _confirmations_send(*, submission: Submission) -> list[Message]:
    """The confirmations of one submission, to the phone and email it gave (never to
    the lead's, which the submitter may not own). What they say and whether they go
    depends only on the submission and the limits on its own phone and address, not
    on whether the person was known: a stranger learns nothing from them. The wish for
    discretion of an open lead with the same phone (or address) also holds for the
    message to it. The wording is :func:`confirmation_template`'s. Past the per-phone
    limit no text goes, past the per-address limit no email: each channel on its own,
    so the email to a prober's own address does not depend on a known phone's use.
    They greet nobody by name: the phone and email are the form's, which nobody
    verified, and the name is whatever its sender typed."""
    texting = bool(submission.phone and submission.sms_consent and not submission.phone_limited)
    emailing = bool(submission.email and not submission.email_limited)
    if not (texting or emailing):
        return []
    _recipients_lock(
        hashes=[
            submission.phone_hash if texting else "",
            submission.email_hash if emailing else "",
        ]
    )
    texting = texting and _sms_confirmation_allowed(submission=submission)
    emailing = emailing and not _confirmed_today(
        channel=Message.Channel.EMAIL, recipient=submission.email
    )
    if not (texting or emailing):
        return []
    template = confirmation_template(submission)
    window_ends = datetime.fromisoformat(submission.callback_window["ends_at"])
    context = {
        "callback_window": business_time.callback_window_phrase(
            due_at=window_ends, now=timezone.now(), tz_name=submission.timezone
        ),
    }
    discretion = (
        intake_selectors.open_lead_discretion(
            phone_hash=submission.phone_hash if texting else "",
            email_hash=submission.email_hash if emailing else "",
        )
        if submission.mention_clinic_ok
        else None
    )
    correlation = (
        f"lead:{submission.lead_id}"
        if submission.lead_id is not None
        else submission_correlation(submission.pk)
    )
    sent = []
    if texting:
        sent.append(
            notification_services.message_send(
                channel=Message.Channel.SMS,
                purpose=Message.Purpose.CONFIRMATION,
                recipient=str(submission.phone),
                template=template,
                context=context,
                correlation=correlation,
                dedupe_key=CONFIRMATION_SMS_KEY.format(submission.pk),
                discreet=discretion is None or discretion.phone,
            )
        )
    if emailing:
        manage_url = links.request_manage_url(
            submission_id=submission.pk, email_hash=submission.email_hash
        )
        sent.append(
            notification_services.message_send(
                channel=Message.Channel.EMAIL,
                purpose=Message.Purpose.CONFIRMATION,
                recipient=submission.email,
                template=template,
                context={**context, "manage_url": manage_url},
                correlation=correlation,
                dedupe_key=CONFIRMATION_EMAIL_KEY.format(submission.pk),
                discreet=discretion is None or discretion.email,
            )
        )
    return sent


def submission_confirm(*, submission_id: int) -> list[Message]:
    """Send a stored request's confirmations, once: from the request alone, without
    its lead (which may not be attached yet) or any lock on it.

    Called by the confirmation task as soon as the request is stored, and by routing
    (``routing.submission_route``, in its transaction) so that a lost task is made
    good; whichever claims the request first (``Submission.confirmed_at``, in the same
    transaction as the messages) sends, the other gets nothing. Spam gets nothing.
    Opt-outs and refusals (recorded as suppressed by ``message_send``), consent as the
    most restrictive answer for the number, reachable countries and line types, the
    per-phone and per-address limits and one confirmation per number and per address
    a day are checked here, each number and address serialised by an advisory lock.
    The messages are about the request's lead if it is attached already, else about
    ``submission:{pk}`` until routing attaches it. Returns the messages recorded (their
    delivery is queued after commit, as ``message_send`` does)."""
    with transaction.atomic():
        submission = intake_services.submission_confirmation_claim(submission_id=submission_id)
        if submission is None:
            return []
        return _confirmations_send(submission=submission)


def submission_confirmations_deliver(*, submission_id: int) -> int:
    """Hand a request's confirmations not yet sent to the provider now, in this worker
    (each is claimed by ``message_deliver``, so the queued delivery task, the sweep or a
    redelivered confirmation task cannot send it twice). A transient failure leaves the
    message to its next try (queued for then). Returns how many were tried."""
    message_ids = notification_selectors.message_ids_unsent(
        dedupe_keys=[
            CONFIRMATION_SMS_KEY.format(submission_id),
            CONFIRMATION_EMAIL_KEY.format(submission_id),
        ]
    )
    for message_id in message_ids:
        try:
            notification_services.message_deliver(message_id=message_id)
        except notification_services.TransientDeliveryError as error:
            # Its next try soon, as the delivery task retries; later ones are the sweep's.
            if error.retry_in <= settings.MESSAGE_RETRY_TASK_COUNTDOWN_MAX_SECONDS:
                notification_services.message_enqueue(
                    message_id=message_id,
                    eta=timezone.now() + timedelta(seconds=max(error.retry_in, 0.0)),
                )
    return len(message_ids)
