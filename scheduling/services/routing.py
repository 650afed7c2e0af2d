"""Each new request routed: the callback it opens (or joins), due when its answer promised,
and the confirmations it sends."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from clinic import business_time
from intake import next_contact
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead, Submission
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message
from scheduling import links
from scheduling.models import Callback, StaffAlert
from scheduling.services import instant_calls
from scheduling.services.alerts import alert_raise

CONFIRMATION_PER_ADDRESS_WINDOW = timedelta(hours=24)


def _promised_due_at(*, submission: Submission, lead: Lead) -> datetime:
    """When a new (not urgent) callback for ``submission`` is due: the end of the window
    its answer promised (``Submission.callback_window``, from clinic time when it was
    made), when that promise was for the lead's own best time and zone. A known lead
    keeps its own: an anonymous form cannot move when the person is called, so then the
    due time is the speed-to-lead clock in the lead's time and zone, as for a
    submission stored without a window."""
    window_ends = (submission.callback_window or {}).get("ends_at")
    if (
        window_ends
        and submission.best_time == lead.best_time
        and submission.timezone == lead.timezone
    ):
        return datetime.fromisoformat(window_ends)
    return business_time.callback_due_at(
        submitted_at=submission.created_at, best_time=lead.best_time, tz_name=lead.timezone
    )


def _callback_open_for(*, submission: Submission, lead: Lead) -> Callback:
    """The lead's live callback, or a new one due when the answer promised, by the
    speed-to-lead clock in the lead's own time and zone (:func:`_promised_due_at`).
    A crisis submission makes the callback urgent (first
    in the queue) and due at once, open or closed (``business_time.crisis_due_at``),
    including a live one queued by an earlier submission."""
    urgent = submission.is_crisis
    live = Callback.objects.filter(
        lead_id=lead.pk, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()
    if live is not None:
        if urgent:
            due_now = business_time.crisis_due_at(submitted_at=submission.created_at)
            live.is_urgent = True
            live.due_at = min(live.due_at, due_now)
            live.original_due_at = min(live.original_due_at, due_now)
            live.save(update_fields=["is_urgent", "due_at", "original_due_at"])
        return live
    if urgent:
        due_at = business_time.crisis_due_at(submitted_at=submission.created_at)
    else:
        due_at = _promised_due_at(submission=submission, lead=lead)
    return Callback.objects.create(
        lead_id=lead.pk,
        submission=submission,
        due_at=due_at,
        original_due_at=due_at,
        is_urgent=urgent,
    )


def _sms_confirmation_allowed(*, submission: Submission) -> bool:
    """A text to the number this submission gave, with the consent it gave, if that
    consent counts for the number (``intake.selectors.sms_permission``: not after a
    "no" or a stop that only the phone itself can undo). A landline gets a call; a
    number outside the allowed countries (SMS pumping) gets a call or an email, never
    a text; one confirmation per number a day."""
    phone = submission.phone
    if not phone or not submission.sms_consent or submission.phone_limited:
        return False
    permission = intake_selectors.sms_permission(phone=phone, submission_id=submission.pk)
    # An opted-out or refused number is left to message_send, which records the text as
    # suppressed (staff see why nothing went); a consent that does not count sends nothing.
    if permission.reason in ("declined", "no_consent"):
        return False
    if not intake_selectors.phone_sms_reachable(
        phone=phone, phone_type=intake_services.phone_type_of(phone)
    ):
        return False
    return not notification_selectors.message_sent_recently(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.CONFIRMATION,
        recipient=str(phone),
        since=timezone.now() - CONFIRMATION_PER_ADDRESS_WINDOW,
    )


def _email_confirmation_allowed(*, submission: Submission) -> bool:
    """One confirmation per address a day: a form cannot be used to flood an inbox."""
    if not submission.email or submission.email_limited:
        return False
    return not notification_selectors.message_sent_recently(
        channel=Message.Channel.EMAIL,
        purpose=Message.Purpose.CONFIRMATION,
        recipient=submission.email,
        since=timezone.now() - CONFIRMATION_PER_ADDRESS_WINDOW,
    )


def _confirmation_template(submission: Submission) -> str:
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


def _confirmations_send(*, submission: Submission, lead: Lead) -> None:
    """The confirmations of one submission, to the phone and email it gave (never to
    the lead's, which the submitter may not own). What they say and whether they go
    depends only on the submission and the limits on its own phone and address, not
    on whether the person was known: a stranger learns nothing from them. The lead's
    wish for discretion also holds when the message goes to the lead's own phone or
    address. The wording is :func:`_confirmation_template`'s. Past the per-phone
    limit no text goes, past the per-address limit no email: each channel on its own,
    so the email to a prober's own address does not depend on a known phone's use.
    They greet nobody by name: the phone and email are the form's, which nobody
    verified, and the name is whatever its sender typed."""
    template = _confirmation_template(submission)
    window_ends = datetime.fromisoformat(submission.callback_window["ends_at"])
    context = {
        "callback_window": business_time.callback_window_phrase(
            due_at=window_ends, now=timezone.now(), tz_name=submission.timezone
        ),
    }
    # The lead was just locked and attached (submission_attach): its wishes are current.
    discreet_lead = not lead.mention_clinic_ok
    correlation = f"lead:{lead.pk}"
    if _sms_confirmation_allowed(submission=submission):
        notification_services.message_send(
            channel=Message.Channel.SMS,
            purpose=Message.Purpose.CONFIRMATION,
            recipient=str(submission.phone),
            template=template,
            context=context,
            correlation=correlation,
            dedupe_key=f"confirmation:sms:submission:{submission.pk}",
            discreet=not submission.mention_clinic_ok
            or (discreet_lead and submission.phone_hash == lead.phone_hash),
        )
    if _email_confirmation_allowed(submission=submission):
        manage_url = links.request_manage_url(
            submission_id=submission.pk, email_hash=submission.email_hash
        )
        notification_services.message_send(
            channel=Message.Channel.EMAIL,
            purpose=Message.Purpose.CONFIRMATION,
            recipient=submission.email,
            template=template,
            context={**context, "manage_url": manage_url},
            correlation=correlation,
            dedupe_key=f"confirmation:email:submission:{submission.pk}",
            discreet=not submission.mention_clinic_ok
            or (discreet_lead and submission.email_hash == lead.email_hash),
        )


def submission_route_attached(*, submission: Submission, lead: Lead) -> Callback:
    """The routing of one submission marked processed and attached to ``lead`` (in the
    batch's transaction, ``routing_batch``): its lead's callback opened or joined
    (urgent for a crisis, with the supervisors' alert), its confirmations sent, and,
    once the transaction commits, the instant call it may ring. Returns the callback."""
    callback = _callback_open_for(submission=submission, lead=lead)
    if callback.is_urgent:
        alert_raise(callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR)
    _confirmations_send(submission=submission, lead=lead)
    # Once this commits, a request for a call may ring the available staff.
    instant_calls.instant_call_enqueue(submission=submission, lead=lead, callback=callback)
    return callback
