"""Reading the callback queue, a lead's whole story, and the supervisor's board."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from config import roles
from config.exceptions import ApplicationError
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import selectors as notification_selectors
from scheduling import business_time
from scheduling.models import (
    Appointment,
    Availability,
    AvailabilityException,
    Call,
    CallAttempt,
    Callback,
    Clinician,
    StaffAlert,
    StaffCallSettings,
)

LIVE = [Callback.Status.OPEN, Callback.Status.CLAIMED]


def callback_queue() -> QuerySet[Callback]:
    """Live callbacks, most urgent first: crisis, then by the first due time."""
    return (
        Callback.objects.filter(status__in=LIVE)
        .select_related("lead", "submission__article", "claimed_by")
        .order_by("-is_urgent", "original_due_at", "pk")
    )


# What a queue row shows (name, how and when they like to be called, the article, who
# holds it), plus the lead's columns that the audit trail's read record keeps. Never
# the phone, email, message or the article's body: a page of 200 rows would fetch,
# parse and decrypt them for nothing.
QUEUE_ROW_FIELDS = (
    *(field.name for field in Callback._meta.concrete_fields),
    *(
        f"lead__{name}"
        for name in (
            "first_name",
            "preferred_channel",
            "best_time",
            "phone_type",
            "voicemail_ok",
            "mention_clinic_ok",
            "needs_review",
            "stage",
            "created_at",
            "contacting_at",
            "contacted_at",
            "consult_booked_at",
            "consult_attended_at",
            "admitted_at",
            "closed_at",
            "anonymised_at",
            "anonymised_reason",
        )
    ),
    "submission__article",
    "submission__article__slug",
    "submission__article__title",
    "claimed_by__username",
)


def callback_queue_rows() -> QuerySet[Callback]:
    """:func:`callback_queue` with only the columns a queue row shows (the console's
    queue table, claim-next's answer)."""
    return callback_queue().only(*QUEUE_ROW_FIELDS)


def callback_get(*, callback_id: int) -> Callback | None:
    return (
        Callback.objects.select_related("lead", "submission__article", "claimed_by")
        .filter(pk=callback_id)
        .first()
    )


def callbacks_held_by(*, user_id: int) -> QuerySet[Callback]:
    return callback_queue().filter(
        claimed_by_id=user_id,
        status=Callback.Status.CLAIMED,
        lease_expires_at__gt=timezone.now(),
    )


def callback_queue_counts() -> dict[str, int]:
    now = timezone.now()
    return Callback.objects.filter(status__in=LIVE).aggregate(
        open=Count("pk", filter=Q(status=Callback.Status.OPEN)),
        claimed=Count("pk", filter=Q(status=Callback.Status.CLAIMED)),
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        urgent=Count("pk", filter=Q(is_urgent=True)),
        replied=Count("pk", filter=Q(patient_replied=True)),
    )


def staff_alerts_open() -> QuerySet[StaffAlert]:
    return StaffAlert.objects.filter(resolved_at__isnull=True).select_related("callback")


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # submission, consent, message, text, attempt
    title: str
    detail: str = ""
    status: str = ""


def lead_timeline(*, lead: Lead) -> list[TimelineEntry]:
    """Everything that happened with a lead, newest first: what they submitted (with
    article and campaign), what they agreed to, what we sent and its delivery status,
    what they texted, and every call attempt."""
    entries: list[TimelineEntry] = []
    for submission in intake_selectors.lead_submissions(lead_id=lead.pk):
        campaign = " / ".join(
            part
            for part in (submission.utm_source, submission.utm_medium, submission.utm_campaign)
            if part
        )
        entries.append(
            TimelineEntry(
                at=submission.created_at,
                kind="submission",
                title=f"Request {submission.reference}"
                + (f" from “{submission.article.title}”" if submission.article else ""),
                detail=" · ".join(
                    part
                    for part in (
                        f"campaign {campaign}" if campaign else "",
                        submission.message,
                    )
                    if part
                ),
                status="spam" if submission.is_spam else "",
            )
        )
    for consent in intake_selectors.lead_consents(lead_id=lead.pk):
        entries.append(
            TimelineEntry(
                at=consent.created_at,
                kind="consent",
                title=f"{consent.get_scope_display()} consent "
                + ("given" if consent.granted else "not given"),
                detail=f"text {consent.text_version}",
            )
        )
    for message in notification_selectors.message_list(correlation=f"lead:{lead.pk}"):
        entries.append(
            TimelineEntry(
                at=message.created_at,
                kind="message",
                title=f"{message.get_channel_display()} {message.get_purpose_display().lower()}",
                detail=message.body if message.channel == "sms" else message.subject,
                status=message.status + (f" ({message.error_code})" if message.error_code else ""),
            )
        )
    if lead.phone:
        for text in notification_selectors.inbound_list(phone=str(lead.phone)):
            entries.append(
                TimelineEntry(
                    at=text.received_at,
                    kind="text",
                    title=f"Text from the person ({text.get_kind_display().lower()})",
                    detail=text.body,
                )
            )
    attempts = CallAttempt.objects.filter(callback__lead=lead).select_related("coordinator")
    for attempt in attempts:
        entries.append(
            TimelineEntry(
                at=attempt.created_at,
                kind="attempt",
                title=f"Call by {attempt.coordinator.get_username()}: "
                f"{attempt.get_outcome_display().lower()}",
                detail=attempt.notes,
            )
        )
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def supervisor_board() -> dict[str, Any]:
    now = timezone.now()
    live = callback_queue()
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[roles.COORDINATOR, roles.SUPERVISOR])
        .distinct()
        .annotate(
            holding=Count(
                "claimed_callbacks",
                filter=Q(claimed_callbacks__status=Callback.Status.CLAIMED),
                distinct=True,
            ),
            calls_today=Count(
                "call_attempts",
                filter=Q(call_attempts__created_at__gte=now - timedelta(hours=24)),
                distinct=True,
            ),
        )
        .order_by("username")
    )
    return {
        "now": now,
        "overdue": live.filter(due_at__lt=now)[:100],
        "due_soon": live.filter(due_at__gte=now, due_at__lt=now + timedelta(minutes=30))[:100],
        "load": users,
        "alerts": staff_alerts_open()[:50],
        "counts": callback_queue_counts(),
    }


@dataclass(frozen=True)
class Slot:
    clinician_id: int
    clinician_name: str
    starts_at: datetime
    ends_at: datetime


def _day_intervals(
    day: date, weekly: list[Availability], exceptions: list[AvailabilityException]
) -> list[tuple[time, time]]:
    """The clinician's hours on ``day``: their week, plus extra hours, minus time off."""
    if any(e.kind == AvailabilityException.Kind.OFF and e.starts_at is None for e in exceptions):
        return []
    hours = [(a.starts_at, a.ends_at) for a in weekly if a.weekday == day.weekday()]
    hours += [
        (e.starts_at, e.ends_at) for e in exceptions if e.kind == AvailabilityException.Kind.EXTRA
    ]
    return sorted(hours)


def slots_available(
    *, start: datetime, end: datetime, clinician_id: int | None = None, limit: int = 500
) -> list[Slot]:
    """Free consultation slots between ``start`` and ``end``: each clinician's usual
    week and exceptions, cut into their slot length, without clinic closures, time
    already booked, or anything sooner than ``BOOKING_MIN_NOTICE`` from now."""
    zone = business_time.clinic_zone()
    earliest = max(start, timezone.now() + settings.BOOKING_MIN_NOTICE)
    if end <= earliest:
        return []
    clinicians = Clinician.objects.filter(is_active=True).prefetch_related("availability")
    if clinician_id is not None:
        clinicians = clinicians.filter(pk=clinician_id)
    first_day, last_day = earliest.astimezone(zone).date(), end.astimezone(zone).date()
    closed = business_time.closed_days(first_day, last_day)
    exceptions: dict[tuple[int, date], list[AvailabilityException]] = {}
    for exception in AvailabilityException.objects.filter(day__gte=first_day, day__lte=last_day):
        exceptions.setdefault((exception.clinician_id, exception.day), []).append(exception)
    taken = set(
        Appointment.objects.filter(
            status__in=Appointment.ACTIVE, starts_at__gte=earliest, starts_at__lt=end
        ).values_list("clinician_id", "starts_at")
    )
    slots: list[Slot] = []
    for clinician in clinicians:
        weekly = list(clinician.availability.all())
        length = timedelta(minutes=clinician.slot_minutes)
        day = first_day
        while day <= last_day:
            day_exceptions = exceptions.get((clinician.pk, day), [])
            off = [
                (
                    datetime.combine(day, e.starts_at, tzinfo=zone),
                    datetime.combine(day, e.ends_at, tzinfo=zone),
                )
                for e in day_exceptions
                if e.kind == AvailabilityException.Kind.OFF and e.starts_at is not None
            ]
            if day not in closed:
                for opens, closes in _day_intervals(day, weekly, day_exceptions):
                    moment = datetime.combine(day, opens, tzinfo=zone)
                    until = datetime.combine(day, closes, tzinfo=zone)
                    while moment + length <= until:
                        finish = moment + length
                        if (
                            moment >= earliest
                            and finish <= end
                            and (clinician.pk, moment) not in taken
                            and not any(moment < b and finish > a for a, b in off)
                        ):
                            slots.append(Slot(clinician.pk, clinician.name, moment, finish))
                        moment = finish
            day += timedelta(days=1)
    slots.sort(key=lambda slot: (slot.starts_at, slot.clinician_name))
    return slots[:limit]


def slot_find(*, clinician: Clinician, starts_at: datetime) -> Slot | None:
    """The free slot of ``clinician`` starting exactly at ``starts_at``, if any."""
    for slot in slots_available(
        start=starts_at,
        end=starts_at + timedelta(minutes=clinician.slot_minutes),
        clinician_id=clinician.pk,
    ):
        if slot.starts_at == starts_at:
            return slot
    return None


def appointments_upcoming(*, since: datetime | None = None) -> QuerySet[Appointment]:
    since = since or timezone.now() - timedelta(hours=12)
    return (
        Appointment.objects.filter(starts_at__gte=since)
        .select_related("lead", "clinician")
        .order_by("starts_at")
    )


def appointment_get(*, appointment_id: int) -> Appointment | None:
    return Appointment.objects.select_related("lead", "clinician").filter(pk=appointment_id).first()


# --- The clinic's phone -------------------------------------------------------------


def staff_call_settings_get(*, user_id: int) -> StaffCallSettings | None:
    return StaffCallSettings.objects.filter(user_id=user_id).first()


def staff_available_for_instant_calls() -> QuerySet[StaffCallSettings]:
    """Members of staff taking instant calls, with a confirmed phone, longest waiting
    first."""
    return (
        StaffCallSettings.objects.filter(available=True, verified_at__isnull=False)
        .exclude(phone="")
        .select_related("user")
        .order_by("available_since", "pk")
    )


def call_get(*, call_id: int) -> Call | None:
    return Call.objects.select_related("callback__lead", "coordinator").filter(pk=call_id).first()


@dataclass(frozen=True)
class CallPerson:
    """Whom a bridged call reaches, read from the lead when the call reaches them."""

    phone: str  # E.164
    first_name: str
    # The number they see: the clinic's, or the discreet one if they asked for discretion.
    caller_id: str
    discreet: bool
    voicemail_ok: bool
    urgent: bool


def call_person(*, call: Call) -> CallPerson:
    """Whom ``call`` may dial now, or ``ApplicationError`` saying why not, in words the
    member of staff may hear (no personal data): the call ended, the request is
    closed, there is no number, or no caller ID is set up for this person."""
    callback = call.callback
    lead = callback.lead
    if call.ended_at is not None:
        raise ApplicationError("This call has ended.", code="call_ended", status_code=409)
    if callback.status not in LIVE or lead.stage == Lead.Stage.CLOSED:
        raise ApplicationError("This request is closed.", code="callback_closed", status_code=409)
    if not lead.phone or lead.anonymised_at is not None:
        raise ApplicationError("There is no number to call.", code="no_phone", status_code=409)
    preferences = intake_selectors.lead_contact_preferences(lead_id=lead.pk)
    discreet = not preferences.mention_clinic_ok
    caller_id = settings.DISCREET_CALLER_ID if discreet else settings.CLINIC_CALLER_ID
    if not caller_id:
        reason = (
            "The person asked us not to name the clinic, and no discreet caller ID is set up."
            if discreet
            else "No clinic caller ID is set up."
        )
        raise ApplicationError(reason, code="no_caller_id", status_code=409)
    return CallPerson(
        phone=lead.phone.as_e164 if hasattr(lead.phone, "as_e164") else str(lead.phone),
        first_name=lead.first_name,
        caller_id=caller_id,
        discreet=discreet,
        voicemail_ok=preferences.voicemail_ok,
        urgent=callback.is_urgent,
    )
