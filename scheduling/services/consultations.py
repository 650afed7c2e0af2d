"""Consultations: booking, confirming, reminding, cancelling, and what happened."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message
from scheduling.models import Appointment, AppointmentChange, CallAttempt, Callback
from scheduling.services import conversations
from scheduling.services.appointment_changes import appointment_change_record, change_actor
from scheduling.services.appointment_messages import appointment_notify, reminder_key
from scheduling.services.appointment_moves import SlotTaken, next_open_slots, open_slot_of
from scheduling.services.callback_state import callback_held
from scheduling.services.places import modality_checked
from scheduling.services.refusals import callback_refusal_check
from scheduling.services.waitlist import waitlist_offers_kick

logger = logging.getLogger(__name__)

REMINDERS = (("24h", timedelta(hours=24)), ("2h", timedelta(hours=2)))
# The booking confirmation is a reminder of its own: none follows it this soon.
NO_REMINDER_AFTER_BOOKING = timedelta(hours=12)


def appointment_book(
    *,
    lead_id: int,
    clinician_id: int,
    starts_at: datetime,
    booked_by_id: int | None,
    modality: str | None = None,
    by_person: bool = False,
) -> Appointment:
    """Book a free slot for a lead: the slot must be one the clinician offers and
    nobody holds (the database refuses a double booking even under a race). The lead
    becomes "consult booked", their live callback is done, and they get a
    confirmation by SMS and email with a calendar invitation, on the details they
    proved only (``scheduling.selectors.appointment_booking_notice`` tells the
    coordinator when it went nowhere). Booking itself needs nothing verified: the
    coordinator is on the phone with the person (a booking with no coordinator, from
    the person's link or a waitlist offer, leaves a person in crisis their callback).
    ``modality``: in person, video (a
    join link of its own) or phone; the clinic's default when not given. The booking
    is recorded with who made it (``by_person``: the person, from their own link;
    else ``booked_by_id``'s coordinator, or the clinic)."""
    modality, video_url = modality_checked(modality)
    clinician, slot = open_slot_of(clinician_id=clinician_id, starts_at=starts_at)
    now = timezone.now()
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                lead_id=lead_id,
                clinician=clinician,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                booked_by_id=booked_by_id,
                modality=modality,
                video_url=video_url,
            )
            appointment_change_record(
                appointment=appointment,
                kind=AppointmentChange.Kind.BOOKED,
                actor=change_actor(user_id=booked_by_id, by_person=by_person),
                user_id=booked_by_id,
            )
            intake_services.lead_stage_advance(lead_id=lead_id, stage=Lead.Stage.CONTACTED)
            intake_services.lead_stage_advance(
                lead_id=lead_id, stage=Lead.Stage.CONSULT_BOOKED, appointment_id=appointment.pk
            )
            # A coordinator booking is a conversation: the callback is done. A booking
            # from the person's own link (or a waitlist offer) reached nobody, so a
            # person in crisis is still called (its retries and urgent alert stand).
            if booked_by_id is not None or not intake_selectors.lead_in_crisis(lead_id=lead_id):
                Callback.objects.filter(
                    lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
                ).update(
                    status=Callback.Status.DONE,
                    result=Callback.Result.REACHED,
                    closed_at=now,
                    claimed_by=None,
                    lease_expires_at=None,
                )
            appointment = Appointment.objects.select_related("lead").get(pk=appointment.pk)
            appointment_notify(
                appointment,
                template="appointment_booked",
                purpose=Message.Purpose.CONFIRMATION,
                key=f"appointment-booked:{appointment.pk}",
            )
    except IntegrityError as error:
        raise SlotTaken(
            "Someone else just booked that time.",
            code="slot_taken",
            next_slots=next_open_slots(clinician_id=clinician.pk),
        ) from error
    return appointment


def callback_book(
    *,
    callback_id: int,
    user_id: int,
    clinician_id: int,
    starts_at: datetime,
    notes: str = "",
    modality: str | None = None,
) -> Appointment:
    """From the console: book a consultation for the callback's lead and log the call
    as "booked", in one transaction: the attempt exists only with its appointment, and
    a refused booking leaves the callback claimed, as it was. Only the holder books,
    and on a "previously refused" callback only once the refusal was acknowledged. The
    person answered the lead's number, which proves it (as a logged "reached" does),
    before the booking's confirmation looks for a verified detail to go to."""
    if not Callback.objects.filter(pk=callback_id).exists():
        raise ApplicationError("No such callback.", code="not_found", status_code=404)
    with transaction.atomic():
        callback = callback_held(callback_id=callback_id, user_id=user_id)
        callback_refusal_check(callback=callback)
        intake_services.lead_details_verify(
            lead_id=callback.lead_id, phone=True, by=Lead.Verification.CALL
        )
        appointment = appointment_book(
            lead_id=callback.lead_id,
            clinician_id=clinician_id,
            starts_at=starts_at,
            booked_by_id=user_id,
            modality=modality,
        )
        attempt = CallAttempt.objects.create(
            callback=callback,
            coordinator_id=user_id,
            outcome=CallAttempt.Outcome.BOOKED,
            notes=notes,
        )
        conversations.attempt_logged(attempt_id=attempt.pk)
    return appointment


def _active(appointment_id: int) -> Appointment | None:
    return (
        Appointment.objects.select_for_update()
        .select_related("lead")
        .filter(pk=appointment_id, status__in=Appointment.ACTIVE)
        .first()
    )


def appointment_confirm(*, appointment_id: int) -> bool:
    """The person confirmed (replied C, or by link). False if not active."""
    with transaction.atomic():
        appointment = _active(appointment_id)
        if appointment is None:
            return False
        appointment.status = Appointment.Status.CONFIRMED
        appointment.confirmed_at = timezone.now()
        appointment.save(update_fields=["status", "confirmed_at"])
    return True


def _queue_callback(appointment: Appointment, *, due_at: datetime, replied: bool) -> Callback:
    """Put the lead back in the coordinators' queue (one live callback per lead)."""
    live = Callback.objects.filter(
        lead_id=appointment.lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()
    if live is not None:
        if replied and not live.patient_replied:
            live.patient_replied = True
            live.save(update_fields=["patient_replied"])
        return live
    submission = intake_selectors.lead_submissions(lead_id=appointment.lead_id).first()
    return Callback.objects.create(
        lead_id=appointment.lead_id,
        submission=submission,
        due_at=due_at,
        original_due_at=due_at,
        patient_replied=replied,
    )


def appointment_reschedule_request(*, appointment_id: int) -> bool:
    """The person asked to reschedule (replied R, or by link): the slot stays held
    until a coordinator rebooks, and the lead is back in the queue as "replied"."""
    with transaction.atomic():
        appointment = _active(appointment_id)
        if appointment is None:
            return False
        appointment.status = Appointment.Status.RESCHEDULE_REQUESTED
        appointment.save(update_fields=["status"])
        _queue_callback(appointment, due_at=timezone.now(), replied=True)
    return True


def appointment_cancel(
    *, appointment_id: int, by_person: bool, cancelled_by_id: int | None = None
) -> bool:
    """Cancel and free the slot. The person is told it is done (``by_person``: they
    asked, from their link), on their verified details, and sent the calendar
    cancellation; the freed time is offered to the waitlist once this commits.
    Recorded with who cancelled (the person, ``cancelled_by_id``'s coordinator, or
    the clinic)."""
    with transaction.atomic():
        appointment = _active(appointment_id)
        if appointment is None:
            return False
        appointment.status = Appointment.Status.CANCELLED
        appointment.cancelled_at = timezone.now()
        appointment.ics_sequence += 1
        appointment.save(update_fields=["status", "cancelled_at", "ics_sequence"])
        appointment_change_record(
            appointment=appointment,
            kind=AppointmentChange.Kind.CANCELLED,
            actor=change_actor(user_id=cancelled_by_id, by_person=by_person),
            user_id=cancelled_by_id,
        )
        notification_services.messages_cancel(
            dedupe_key_prefix=f"appointment-reminder:{appointment.pk}:"
        )
        logger.info(
            "appointment.cancelled",
            extra={"appointment_id": appointment.pk, "by_person": by_person},
        )
        # Told either way, with the calendar cancellation: a coordinator's cancelling
        # (on the phone with them, or moving them to another time) must not leave the
        # old time in their calendar.
        appointment_notify(
            appointment,
            template="appointment_cancelled",
            purpose=Message.Purpose.REPLY,
            key=f"appointment-cancelled:{appointment.pk}",
        )
        waitlist_offers_kick()
    return True


def appointment_mark(*, appointment_id: int, attended: bool) -> Appointment:
    """Record what happened. Attended moves the lead on; a no-show goes back to the
    queue for a coordinator to call."""
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update()
            .select_related("lead")
            .filter(pk=appointment_id)
            .first()
        )
        if appointment is None or appointment.status not in Appointment.ACTIVE:
            raise ApplicationError(
                "Only a booked appointment can be marked.", code="not_active", status_code=409
            )
        if appointment.starts_at > timezone.now():
            raise ApplicationError(
                "The appointment has not started yet.", code="not_started", status_code=409
            )
        appointment.status = Appointment.Status.ATTENDED if attended else Appointment.Status.NO_SHOW
        appointment.outcome_at = timezone.now()
        appointment.save(update_fields=["status", "outcome_at"])
        if attended:
            intake_services.lead_stage_advance(
                lead_id=appointment.lead_id,
                stage=Lead.Stage.CONSULT_ATTENDED,
                appointment_id=appointment.pk,
            )
        else:
            _queue_callback(appointment, due_at=timezone.now(), replied=False)
    return appointment


def appointment_reminders_send() -> int:
    """Remind people 24 hours and 2 hours before their consultation (each once;
    texts wait for the end of quiet hours; none within 12 hours of the booking; only
    to verified details, so nothing while none is). Returns how many reminders were
    queued."""
    now = timezone.now()
    queued = 0
    upcoming = Appointment.objects.select_related("lead").filter(
        status__in=[Appointment.Status.BOOKED, Appointment.Status.CONFIRMED],
        starts_at__gt=now,
        starts_at__lte=now + REMINDERS[0][1],
    )
    for appointment in upcoming:
        until = appointment.starts_at - now
        # The 24-hour reminder only when it still comes well before the 2-hour one.
        name = "2h" if until <= REMINDERS[1][1] else "24h"
        # A move is a new booking: its own confirmation, its own reminders.
        booked_at = appointment.moved_at or appointment.created_at
        if name == "24h" and booked_at > appointment.starts_at - REMINDERS[0][1]:
            continue  # booked less than a day ahead: the confirmation is fresh
        if booked_at > now - NO_REMINDER_AFTER_BOOKING:
            continue
        key = reminder_key(appointment, name)
        if notification_selectors.message_exists(dedupe_key=f"{key}:sms") or (
            notification_selectors.message_exists(dedupe_key=f"{key}:email")
        ):
            continue
        with transaction.atomic():
            sent = appointment_notify(
                appointment,
                template="appointment_reminder",
                purpose=Message.Purpose.REMINDER,
                key=key,
            )
        queued += bool(sent)
    return queued


def appointment_reply(*, phone: str, body: str) -> str | None:
    """A text "C" confirms and "R" asks to reschedule the person's next appointment.
    Returns what was done ("confirmed", "reschedule"), or None if it was not that."""
    answer = body.strip().upper().rstrip(".!")
    if answer not in {"C", "R"}:
        return None
    hashed = phone_hash(phone)
    if not hashed:
        return None
    appointment = (
        Appointment.objects.filter(
            lead_id__in=intake_selectors.lead_ids_with_phone(phone=phone),
            status__in=Appointment.ACTIVE,
            starts_at__gt=timezone.now(),
        )
        .order_by("starts_at")
        .first()
    )
    if appointment is None:
        return None
    if answer == "C":
        appointment_confirm(appointment_id=appointment.pk)
        return "confirmed"
    appointment_reschedule_request(appointment_id=appointment.pk)
    return "reschedule"


def appointment_admit(*, appointment_id: int) -> None:
    """After an attended consultation, the person was admitted."""
    appointment = Appointment.objects.filter(
        pk=appointment_id, status=Appointment.Status.ATTENDED
    ).first()
    if appointment is None:
        raise ApplicationError(
            "Only an attended consultation can lead to admission.",
            code="not_attended",
            status_code=409,
        )
    intake_services.lead_stage_advance(
        lead_id=appointment.lead_id, stage=Lead.Stage.ADMITTED, appointment_id=appointment.pk
    )


def request_cancel(*, lead_id: int) -> bool:
    """The person cancelled their request from the link in their email: the lead is
    closed and its callback cancelled, unless a consultation was ever booked for it.
    The link went to an address nobody verified: it reaches the request, never the
    person's care (an appointment, or a lead in care, stays as it is; the coordinators
    see the cancelled request on its timeline). Returns whether the lead closed."""
    now = timezone.now()
    with transaction.atomic():
        if Appointment.objects.filter(lead_id=lead_id).exists():
            return False
        Callback.objects.filter(
            lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
        ).update(status=Callback.Status.CANCELLED, closed_at=now, claimed_by=None)
        intake_services.lead_stage_advance(
            lead_id=lead_id, stage=Lead.Stage.CLOSED, reason="cancelled by the person"
        )
    return True


def submission_restrict(
    *, submission_id: int, no_voicemail: bool, no_clinic_name: bool, stop_texts: bool
) -> None:
    """The holder of a request's link asked for less contact. The link went to an
    address nobody verified, so it can only restrict: no voicemail and no clinic name
    (on the submission and on its lead), no more texts to the number the submission
    gave (as STOP would). Nothing here allows anything; opting back in to texts is
    START from the phone, or a coordinator who spoke to the person."""
    with transaction.atomic():
        submission = intake_services.submission_contact_restrict(
            submission_id=submission_id, no_voicemail=no_voicemail, no_clinic_name=no_clinic_name
        )
        if submission is not None and stop_texts and submission.phone:
            notification_services.opt_out_record(phone=str(submission.phone), source="email link")


def submission_cancel(*, submission_id: int) -> bool:
    """The holder of a request's link cancelled that one request. Its lead is closed
    (callback cancelled) only when no other live request of the person remains and
    no consultation was booked (``request_cancel``): a link sent to an address nobody
    verified cannot cancel what someone else asked for, nor anyone's appointment.
    Returns False when it was already cancelled."""
    with transaction.atomic():
        cancelled = intake_services.submission_cancel_record(
            submission_id=submission_id, at=timezone.now()
        )
        if cancelled is None:
            return False
        if cancelled.lead_id is not None and not cancelled.others_live:
            request_cancel(lead_id=cancelled.lead_id)
    return True


def submission_links_revoke(*, submission_id: int) -> bool:
    """Links to this request issued until now stop opening (a coordinator learnt the
    email was not the person's, or the person asked)."""
    return intake_services.submission_links_revoke(submission_id=submission_id, at=timezone.now())
