"""The callback queue: routing submissions, claiming, calls and outcomes, escalation."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from phonenumber_field.phonenumber import to_python

from clinic import business_time
from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from clinic.workers import enqueue
from intake import next_contact
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead, Submission
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import InboundMessage, Message
from notifications.wording import wording_problems
from scheduling import links
from scheduling.models import Appointment, CallAttempt, Callback, CrisisDecision, StaffAlert
from scheduling.services import claims, crisis, instant_calls
from scheduling.services.alerts import alert_raise, alerts_settle, callback_assigned_notify
from scheduling.services.inbox import conversation_inbound_route
from scheduling.services.outreach import lead_message
from scheduling.services.refusals import callback_refusal_check, lead_refusal_record

logger = logging.getLogger(__name__)

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


def submission_route(*, submission_id: int) -> Callback | None:
    """Attach one stored submission to its person, queue the callback and send the
    confirmations, once.

    The public POST only stored the submission; here, in one transaction, the
    submission is marked processed, attached to the person's open lead or a new one
    (``intake.services.submission_attach``: dedupe, consent ledger, funnel counts),
    the lead's callback is queued, and the confirmations go out. Safe to call again
    for the same submission (a redelivered task or the sweep): later calls do
    nothing. Spam is marked processed and gets nothing. Returns the lead's live
    callback, or None when there was nothing to do."""
    submission = intake_selectors.submission_get(submission_id=submission_id)
    if submission is None:
        return None
    with transaction.atomic():
        if not intake_services.submission_mark_processed(submission_id=submission_id):
            return None
        lead = intake_services.submission_attach(submission=submission)
        if lead is None:
            return None
        callback = _callback_open_for(submission=submission, lead=lead)
        if callback.is_urgent:
            alert_raise(
                callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR
            )
        _confirmations_send(submission=submission, lead=lead)
        # Once this commits, a request for a call may ring the available staff.
        instant_calls.instant_call_enqueue(submission=submission, lead=lead, callback=callback)
    return callback


def submission_enqueue(*, submission_id: int) -> bool:
    """Hand a submission to the workers; if the broker is down it stays unprocessed
    and ``submissions_sweep`` hands it over later."""
    return enqueue("scheduling.tasks.submission_process", submission_id)


def reply_enqueue(*, inbound_id: int) -> bool:
    return enqueue("scheduling.tasks.reply_process", inbound_id)


def reply_route(*, inbound_id: int) -> str:
    """A person texted us. Their thread in the inbox is linked to their lead, and
    crisis words make their callback urgent and alert supervisors
    (``inbox.conversation_inbound_route``). A reply in their own words proves the number is theirs
    (``intake.services.lead_phone_verify``). "C" or "R" answers their next
    appointment; anything else moves their live callback up the queue as "patient
    replied". Says which."""
    from scheduling.services.consultations import appointment_reply

    inbound = notification_selectors.inbound_get(inbound_id=inbound_id)
    if inbound is None:
        return "unknown"
    # The inbox's thread names the lead; crisis words raise the crisis path.
    conversation_inbound_route(inbound=inbound)
    if inbound.kind == InboundMessage.Kind.REPLY and inbound.sender:
        # A text from the number proves it is the person's.
        intake_services.lead_phone_verify(phone=inbound.sender, by=Lead.Verification.SMS_REPLY)
    answered = appointment_reply(phone=inbound.sender, body=inbound.body)
    if answered:
        return answered
    return "replied" if callback_mark_replied(phone=inbound.sender) else "no callback"


def callback_mark_replied(*, phone: str) -> int:
    """The person at ``phone`` texted us: their live callback moves up the queue as
    "patient replied". Returns how many callbacks were marked."""
    hashed = phone_hash(phone)
    if not hashed:
        return 0
    return Callback.objects.filter(
        lead__phone_hash=hashed, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).update(patient_replied=True)


def _ready(now: datetime) -> QuerySet[Callback]:
    """Callbacks a coordinator may take now: open, or claimed with a lapsed lease,
    and not waiting for a retry time."""
    return Callback.objects.filter(
        Q(status=Callback.Status.OPEN)
        | Q(status=Callback.Status.CLAIMED, lease_expires_at__lte=now),
        Q(retry_at__isnull=True) | Q(retry_at__lte=now),
    )


def _queue_tiers(now: datetime) -> list[QuerySet[Callback]]:
    """The ready queue in priority order, as index-backed slices: urgent (crisis),
    then overdue, then those whose person replied, then the rest; each by original
    due time, so a retried callback keeps its place. (``claims.CLAIM_NEXT_SQL`` is the
    same order in SQL; change both together.)"""
    ready = _ready(now).order_by("original_due_at", "pk")
    # Overdue rows are found through the due-time index (usually there are none, and
    # scanning the queue in original-due order to learn that is the slow way); the
    # hundred most overdue are then taken in queue order.
    overdue = _ready(now).filter(due_at__lt=now).order_by("due_at").values("pk")[:100]
    return [
        ready.filter(is_urgent=True),
        ready.filter(pk__in=overdue),
        ready.filter(patient_replied=True),
        ready,
    ]


def callback_claim_next(*, user_id: int, lease: timedelta | None = None) -> Callback | None:
    """Give the coordinator the best callback that is ready, atomically.

    A coordinator holding a live claim gets that one back, its lease renewed (one
    claim each, unless a supervisor assigns more; two claim-nexts of the same
    coordinator at once are taken one after the other). Otherwise the first ready
    callback in queue order (see :func:`_queue_tiers`) is locked with ``SKIP LOCKED``
    so concurrent claimers never get the same row, and claimed with a lease; its
    ordinary alerts are settled (an urgent one stays, see ``alerts``) and its lead
    moves to "contacting". Returns None when nothing is ready.

    On PostgreSQL the claim is one round trip (``scheduling.services.claims``) and the
    lead's stage one UPDATE more."""
    lease = lease or timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    now = timezone.now()
    if connection.vendor != "postgresql":
        return _claim_next_portable(user_id=user_id, now=now, lease=lease)
    with transaction.atomic():
        claimed = claims.claim_next(user_id=user_id, now=now, until=now + lease)
        if claimed is None:
            return None
        if claimed.fresh:
            intake_services.lead_stage_advance(
                lead_id=claimed.callback.lead_id, stage=Lead.Stage.CONTACTING
            )
    return claimed.callback


def _claim_next_portable(*, user_id: int, now: datetime, lease: timedelta) -> Callback | None:
    """The same claim through the ORM, for SQLite (which serialises writers, so the
    one-claim rule needs no lock of its own)."""
    with transaction.atomic():
        held = (
            Callback.objects.select_for_update()
            .filter(claimed_by_id=user_id, status=Callback.Status.CLAIMED, lease_expires_at__gt=now)
            .order_by("claimed_at", "pk")
            .first()
        )
        if held is not None:
            held.lease_expires_at = now + lease
            held.save(update_fields=["lease_expires_at"])
            return held
        for tier in _queue_tiers(now):
            candidate = tier.select_for_update(skip_locked=True).first()
            if candidate is not None:
                _claim(candidate, user_id=user_id, now=now, lease=lease)
                return candidate
    return None


def _claim(callback: Callback, *, user_id: int, now: datetime, lease: timedelta) -> None:
    callback.status = Callback.Status.CLAIMED
    callback.claimed_by_id = user_id
    callback.claimed_at = now
    callback.lease_expires_at = now + lease
    callback.save(update_fields=["status", "claimed_by", "claimed_at", "lease_expires_at"])
    alerts_settle(callback_id=callback.pk, now=now)
    intake_services.lead_stage_advance(lead_id=callback.lead_id, stage=Lead.Stage.CONTACTING)


def callback_renew(*, callback_id: int, user_id: int, lease: timedelta | None = None) -> bool:
    """Extend the holder's lease while they work on the callback."""
    lease = lease or timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    now = timezone.now()
    return bool(
        Callback.objects.filter(
            pk=callback_id,
            claimed_by_id=user_id,
            status=Callback.Status.CLAIMED,
            lease_expires_at__gt=now,
        ).update(lease_expires_at=now + lease)
    )


def callback_assign(
    *,
    callback_id: int,
    to_user_id: int,
    lease: timedelta | None = None,
    by_user_id: int | None = None,
) -> Callback:
    """A supervisor gives a live callback to a coordinator (also one already
    claimed by someone else, and on top of any claim the coordinator holds). The
    coordinator is told (a console banner, and an email where they have an address)
    unless they gave it to themselves; an urgent (crisis) alert stays open."""
    lease = lease or timedelta(minutes=settings.CALLBACK_LEASE_MINUTES)
    now = timezone.now()
    with transaction.atomic():
        callback = (
            Callback.objects.select_for_update()
            .filter(pk=callback_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED])
            .first()
        )
        if callback is None:
            raise ApplicationError(
                "This callback is closed.", code="callback_closed", status_code=409
            )
        _claim(callback, user_id=to_user_id, now=now, lease=lease)
        if to_user_id != by_user_id:
            callback_assigned_notify(callback, to_user_id=to_user_id)
    return callback


def callback_release(*, callback_id: int, user_id: int) -> bool:
    """Put a claimed callback back in the queue. Only its holder may release it."""
    return bool(
        Callback.objects.filter(
            pk=callback_id, claimed_by_id=user_id, status=Callback.Status.CLAIMED
        ).update(
            status=Callback.Status.OPEN, claimed_by=None, claimed_at=None, lease_expires_at=None
        )
    )


def callback_leases_expire() -> int:
    """Return callbacks whose holder's lease ran out to the open queue."""
    return Callback.objects.filter(
        status=Callback.Status.CLAIMED, lease_expires_at__lte=timezone.now()
    ).update(status=Callback.Status.OPEN, claimed_by=None, claimed_at=None, lease_expires_at=None)


# After how many unanswered calls, and when, the next try comes: +15 min, +2 h,
# then the next business morning; after that the lead is unreachable.
CLOSING_OUTCOMES = {
    CallAttempt.Outcome.NOT_INTERESTED: "not interested",
    CallAttempt.Outcome.WRONG_NUMBER: "wrong number",
    CallAttempt.Outcome.DO_NOT_CONTACT: "asked not to be contacted",
}


# Outcomes of a call in which the person answered the lead's number, which proves it.
PHONE_PROVING_OUTCOMES = frozenset(
    {
        CallAttempt.Outcome.REACHED,
        CallAttempt.Outcome.BOOKED,
        CallAttempt.Outcome.CALL_BACK_LATER,
    }
)


def retry_at_for(*, unanswered: int, now: datetime) -> datetime | None:
    """When to try again after the ``unanswered``-th unanswered call, or None to stop."""
    schedule = settings.CALLBACK_RETRY_SCHEDULE
    if unanswered > len(schedule):
        return None
    step = schedule[unanswered - 1]
    if step == "next-morning":
        return business_time.next_business_morning(now)
    return business_time.next_open(now + timedelta(minutes=int(step)))


def callback_held(*, callback_id: int, user_id: int) -> Callback:
    """The live callback ``user_id`` holds, locked for the caller's transaction. An
    outcome is logged (or a consultation booked from the console) only by the holder:
    someone merely looking at a callback, a supervisor too, cannot close it."""
    callback = (
        Callback.objects.select_for_update()
        .select_related("lead", "submission")
        .filter(pk=callback_id)
        .first()
    )
    if callback is None or callback.status not in (Callback.Status.OPEN, Callback.Status.CLAIMED):
        raise ApplicationError("This callback is closed.", code="callback_closed", status_code=409)
    if callback.status != Callback.Status.CLAIMED:
        raise ApplicationError(
            "Take this callback before logging a call.", code="not_holder", status_code=409
        )
    if callback.claimed_by_id != user_id:
        raise ApplicationError(
            "Another coordinator holds this callback.", code="not_holder", status_code=409
        )
    return callback


def _outcome_chosen(outcome: str, confirm: str) -> CallAttempt.Outcome:
    """The outcome as the coordinator chose it: never a default, "booked" only with
    its booking (``callback_book``), a closing one only confirmed (``confirm`` echoes
    it, so neither a stray key nor a script closes a person's request in one step)."""
    if not outcome:
        raise ApplicationError("Choose an outcome.", fields={"outcome": ["Required."]})
    try:
        chosen = CallAttempt.Outcome(outcome)
    except ValueError:
        raise ApplicationError(
            "Choose an outcome.", fields={"outcome": ["Not a known outcome."]}
        ) from None
    if chosen == CallAttempt.Outcome.BOOKED:
        raise ApplicationError(
            "Book the consultation: “reached and booked” is logged with the booking.",
            code="booking_required",
            fields={"outcome": ["Logged by booking a consultation."]},
        )
    if chosen in CLOSING_OUTCOMES and confirm != chosen:
        raise ApplicationError(
            "Confirm this outcome: it closes the person's request.",
            code="confirmation_required",
            fields={"confirm": [f"Send confirm={chosen.value} to log it."]},
        )
    return chosen


def attempt_log(
    *,
    callback_id: int,
    user_id: int,
    outcome: str,
    notes: str = "",
    call_back_at: datetime | None = None,
    confirm: str = "",
) -> CallAttempt:
    """Record a call and move the callback and the lead on.

    Reached: the lead is contacted and the callback done ("reached and booked" is
    logged by ``callback_book``, with the appointment, never here). Call back
    later: the callback waits until ``call_back_at`` (required). No answer or a
    voicemail: retried on the configured schedule (keeping its place in the queue),
    with a "we tried to reach you" text; after the last try the lead is closed as
    unreachable and gets a final email. Not interested, wrong number, do not
    contact: the lead is closed; do not contact also refuses the person's phone and
    email for good (``services.refusals``). Closing outcomes need ``confirm`` equal to
    the outcome, and the coordinator may take them back for a few minutes
    (``attempt_undo``). A voicemail may only be logged when the person allowed
    voicemails. Only the coordinator holding the claim may log on it, and on a
    "previously refused" callback only once a coordinator acknowledged the refusal
    (409 ``refusal_unacknowledged`` until then)."""
    outcome = _outcome_chosen(outcome, confirm)
    now = timezone.now()
    with transaction.atomic():
        callback = callback_held(callback_id=callback_id, user_id=user_id)
        callback_refusal_check(callback=callback)
        lead = callback.lead
        if (
            outcome == CallAttempt.Outcome.VOICEMAIL
            and not intake_selectors.lead_contact_preferences(lead_id=lead.pk).voicemail_ok
        ):
            raise ApplicationError(
                "This person did not allow voicemails.",
                fields={"outcome": ["Voicemail is not allowed for this person."]},
            )
        if outcome == CallAttempt.Outcome.CALL_BACK_LATER and (
            call_back_at is None or call_back_at <= now
        ):
            raise ApplicationError(
                "Say when to call back.", fields={"call_back_at": ["A future time is required."]}
            )
        attempt = CallAttempt.objects.create(
            callback=callback,
            coordinator_id=user_id,
            outcome=outcome,
            notes=notes,
            call_back_at=call_back_at,
        )
        undo_state = _apply_outcome(callback, outcome=outcome, now=now, call_back_at=call_back_at)
        if outcome == CallAttempt.Outcome.DO_NOT_CONTACT:
            undo_state["refusal"] = lead_refusal_record(lead=lead, user_id=user_id)
        if undo_state:
            attempt.undo_state = undo_state
            attempt.save(update_fields=["undo_state"])
    return attempt


def _close(callback: Callback, *, result: str, now: datetime) -> list[int]:
    """Close the callback and settle its open alerts; returns the alerts settled."""
    callback.status = Callback.Status.DONE
    callback.result = result
    callback.closed_at = now
    callback.claimed_by = None
    callback.lease_expires_at = None
    callback.save()
    return alerts_settle(callback_id=callback.pk, now=now, kept_too=True)


def _reopen(callback: Callback, *, retry_at: datetime) -> None:
    callback.status = Callback.Status.OPEN
    callback.retry_at = retry_at
    callback.due_at = retry_at
    callback.claimed_by = None
    callback.claimed_at = None
    callback.lease_expires_at = None
    callback.patient_replied = False
    callback.escalation_level = 0
    callback.save()


def _apply_outcome(
    callback: Callback, *, outcome: str, now: datetime, call_back_at: datetime | None
) -> dict:
    """Move the callback and lead on; for a closing outcome, returns what it changed
    (``CallAttempt.undo_state``), else an empty dict."""
    lead = callback.lead
    if outcome in PHONE_PROVING_OUTCOMES:
        # The person answered a call to the lead's number: it is theirs.
        intake_services.lead_details_verify(lead_id=lead.pk, phone=True, by=Lead.Verification.CALL)
    if outcome in (CallAttempt.Outcome.REACHED, CallAttempt.Outcome.BOOKED):
        intake_services.lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CONTACTED)
        _close(callback, result=Callback.Result.REACHED, now=now)
    elif outcome == CallAttempt.Outcome.CALL_BACK_LATER:
        intake_services.lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CONTACTED)
        _reopen(callback, retry_at=call_back_at)
        alerts_settle(callback_id=callback.pk, now=now, kept_too=True)  # reached
    elif outcome in CLOSING_OUTCOMES:
        stage_before = lead.stage  # loaded with the callback's lock, in this transaction
        intake_services.lead_stage_advance(
            lead_id=lead.pk, stage=Lead.Stage.CLOSED, reason=CLOSING_OUTCOMES[outcome]
        )
        settled = _close(callback, result=Callback.Result.CLOSED, now=now)
        return {"stage": stage_before, "alerts": settled}
    else:  # no answer, voicemail
        callback.unanswered_attempts += 1
        # A crisis is tried again within minutes and never closed on its own.
        if crisis.callback_in_crisis(callback):
            retry_at = crisis.crisis_unanswered(callback, now=now)
        else:
            retry_at = retry_at_for(unanswered=callback.unanswered_attempts, now=now)
        if retry_at is None:
            intake_services.lead_stage_advance(
                lead_id=lead.pk, stage=Lead.Stage.CLOSED, reason="unreachable"
            )
            _close(callback, result=Callback.Result.UNREACHABLE, now=now)
            _send_to_lead(callback, purpose="follow_up", template="unreachable", sms=False)
        else:
            _reopen(callback, retry_at=retry_at)
            _send_to_lead(
                callback,
                purpose="follow_up",
                template="missed_call",
                sms=True,
                email=False,
                key=f"missed-call:{callback.pk}:{callback.unanswered_attempts}",
            )
    return {}


def _send_to_lead(
    callback: Callback, *, purpose: str, template: str, sms: bool, email: bool = True, key: str = ""
) -> None:
    """A follow-up about this callback (see ``outreach.lead_message`` for the rules)."""
    lead_message(
        lead=callback.lead,
        purpose=purpose,
        template=template,
        context={"clinic_phone": settings.CLINIC_PHONE},
        key=key or f"{template}:{callback.pk}",
        sms=sms,
        email=email,
    )


def callbacks_escalate() -> dict[str, int]:
    """Alert about callbacks nobody has taken: 5 minutes past due the on-duty pool,
    15 minutes past due a supervisor. Each alert goes once per callback."""
    now = timezone.now()
    counts = {"pool": 0, "supervisor": 0}
    live = Callback.objects.filter(status=Callback.Status.OPEN).filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    steps = (
        (2, StaffAlert.Audience.SUPERVISOR, settings.ESCALATE_SUPERVISOR_AFTER),
        (1, StaffAlert.Audience.POOL, settings.ESCALATE_POOL_AFTER),
    )
    for level, audience, after in steps:
        for callback in live.filter(due_at__lte=now - after, escalation_level__lt=level):
            if alert_raise(callback, kind=StaffAlert.Kind.UNCLAIMED, audience=audience):
                counts[audience] += 1
            Callback.objects.filter(pk=callback.pk, escalation_level__lt=level).update(
                escalation_level=level
            )
    return counts


# Why the console may not text a person, in a coordinator's words.
SMS_NOT_ALLOWED = {
    "opted_out": "This number opted out of texts; only START from the phone lifts that.",
    "refused": "This person asked not to be contacted.",
    "declined": "This number said no to texts. Only the person can say yes again, "
    "from the phone: START, or YES to the one invitation you may send.",
}


def lead_sms_reply(*, callback_id: int, user_id: int, body: str) -> Message:
    """A coordinator texts the lead from the console. Only when the clinic may text the
    lead's number (``intake.selectors.sms_permission``: consent no stranger's form can
    give after a "no"), never naming health information (the same checker as
    templates), at most 320 characters."""
    body = " ".join(body.split())
    if not body:
        raise ApplicationError("Write a message.", fields={"body": ["Required."]})
    if len(body) > 320:
        raise ApplicationError("Keep it under 320 characters.", fields={"body": ["Too long."]})
    problems = wording_problems(body)
    if problems:
        raise ApplicationError(
            f"A text must not name health information ({', '.join(problems)}).",
            fields={"body": ["Names health information."]},
        )
    callback = Callback.objects.select_related("lead").filter(pk=callback_id).first()
    if callback is None:
        raise ApplicationError("No such callback.", code="not_found", status_code=404)
    lead = callback.lead
    permission = intake_selectors.sms_permission(phone=lead.phone, lead_id=lead.pk)
    if not permission.allowed:
        raise ApplicationError(
            SMS_NOT_ALLOWED.get(permission.reason, "This person has not agreed to texts."),
            code="no_sms_consent",
        )
    return notification_services.message_send(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.REPLY,
        recipient=str(lead.phone),
        # To a person in crisis, every text carries 988 and 911.
        template="coordinator_reply_crisis"
        if intake_selectors.lead_in_crisis(lead_id=lead.pk)
        else "coordinator_reply",
        context={"reply_text": body},
        correlation=f"lead:{lead.pk}",
        sent_by_id=user_id,
    )


def call_enqueue(*, call_id: int, missed: bool) -> bool:
    task = "call_missed_process" if missed else "call_process"
    return enqueue(f"scheduling.tasks.{task}", call_id)


def call_route(*, call_id: int) -> Callback | None:
    """A call to an article's tracking number becomes a submission from that article
    (once per call), routed like a web request: the caller's open lead, one live
    callback. A withheld number cannot be called back and is only counted."""
    call = notification_selectors.call_get(call_id=call_id)
    if call is None or not call.caller:
        return None
    caller = to_python(call.caller)
    if caller is None or not caller.is_valid():
        return None
    # Keyed by the call, so a redelivered task replays instead of recording it again.
    outcome = intake_services.lead_submit_call(
        caller=caller,
        article_id=intake_selectors.article_id_for_tracking_number(number=call.called),
        idempotency_key=f"call:{call.provider_id}",
    )
    routed = submission_route(submission_id=outcome.submission.pk)
    if routed is not None:
        return routed
    # Routed before (a redelivered task): the lead it was attached to then.
    lead_id = (
        Submission.objects.filter(pk=outcome.submission.pk)
        .values_list("lead_id", flat=True)
        .first()
    )
    return Callback.objects.filter(
        lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()


def call_missed_route(*, call_id: int) -> Callback | None:
    """Nobody at the clinic answered the forwarded call: the caller's callback is made
    urgent (first in the queue) and a supervisor is alerted."""
    call = notification_selectors.call_get(call_id=call_id)
    if call is None or not call.caller:
        return None
    caller = to_python(call.caller)
    lead_id = intake_selectors.lead_id_open_for_phone(phone=str(caller)) if caller else None
    if lead_id is None:
        # The call's own task has not run yet: record it now (idempotent).
        call_route(call_id=call_id)
        lead_id = intake_selectors.lead_id_open_for_phone(phone=str(caller)) if caller else None
    with transaction.atomic():
        callback = (
            Callback.objects.select_for_update()
            .filter(lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED])
            .first()
        )
        if callback is None:
            return None
        if not callback.is_urgent:
            callback.is_urgent = True
            callback.save(update_fields=["is_urgent"])
        alert_raise(callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR)
    return callback


def lead_work_erase(*, lead_id: int) -> None:
    """A lead's personal data is being erased (intake's ``lead_erased``, inside its
    transaction): call notes are blanked, its live callback is cancelled, active
    consultations are cancelled without telling anyone, and the messages about it
    are blanked. Idempotent."""
    now = timezone.now()
    CallAttempt.objects.filter(callback__lead_id=lead_id).exclude(notes="").update(notes="")
    CrisisDecision.objects.filter(callback__lead_id=lead_id).exclude(reason="").update(reason="")
    live = Callback.objects.filter(
        lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    )
    StaffAlert.objects.filter(callback__in=live, resolved_at__isnull=True).update(resolved_at=now)
    live.update(
        status=Callback.Status.CANCELLED,
        result=Callback.Result.CLOSED,
        closed_at=now,
        claimed_by=None,
        lease_expires_at=None,
    )
    Appointment.objects.filter(lead_id=lead_id, status__in=Appointment.ACTIVE).update(
        status=Appointment.Status.CANCELLED, cancelled_at=now
    )
    notification_services.messages_erase(correlation=f"lead:{lead_id}")
