"""Reading the callback queue, a lead's whole story, and the supervisor's board."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from clinic import business_time, roles
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake.models import Lead, Submission
from notifications import selectors as notification_selectors
from notifications.models import Refusal
from scheduling.models import (
    Appointment,
    Availability,
    AvailabilityException,
    Call,
    CallAttempt,
    Callback,
    CallLeg,
    Clinician,
    ConsolePreference,
    CrisisDecision,
    RequestLinkChoices,
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


@dataclass(frozen=True)
class RefusalShown:
    """A refusal in force that concerns a callback, and whose detail it refuses."""

    refusal: Refusal
    #: "this person's phone", "the email in request R-...": never the value itself.
    where: str
    #: The lead's own phone or email (a coordinator who reached the person may lift it).
    own: bool


@dataclass(frozen=True)
class CallbackRefusals:
    """Whether a callback is "previously refused": the refusals in force for the lead's
    phone or email or for the details any of its requests gave."""

    shown: list[RefusalShown]
    #: A refusal recorded after the last acknowledgement (or never acknowledged): no
    #: call may be logged until a coordinator acknowledges it.
    pending: bool

    @property
    def liftable(self) -> bool:
        return any(each.own for each in self.shown)


def callback_refusals(*, callback: Callback) -> CallbackRefusals:
    """The refusals that concern ``callback`` (see :class:`CallbackRefusals`), oldest
    first, each with where it applies (two queries)."""
    lead = callback.lead
    where: dict[tuple[str, str], tuple[str, bool]] = {}
    for channel, hashed in (
        (Refusal.Channel.PHONE, lead.phone_hash),
        (Refusal.Channel.EMAIL, lead.email_hash),
    ):
        if hashed:
            where[(channel, hashed)] = (f"this person's {channel}", True)
    for submission in intake_selectors.lead_submissions(lead_id=lead.pk).exclude(is_spam=True):
        for channel, hashed in (
            (Refusal.Channel.PHONE, submission.phone_hash),
            (Refusal.Channel.EMAIL, submission.email_hash),
        ):
            if hashed:
                where.setdefault(
                    (channel, hashed), (f"the {channel} in request {submission.reference}", False)
                )
    refusals = notification_selectors.refusals_live(
        phone_hashes=[hashed for channel, hashed in where if channel == Refusal.Channel.PHONE],
        email_hashes=[hashed for channel, hashed in where if channel == Refusal.Channel.EMAIL],
    )
    acknowledged = callback.refusal_acknowledged_at
    return CallbackRefusals(
        shown=[
            RefusalShown(refusal, *where[(refusal.channel, refusal.value_hash)])
            for refusal in refusals
        ],
        pending=any(
            acknowledged is None or refusal.recorded_at > acknowledged for refusal in refusals
        ),
    )


def callback_live_for_lead(*, lead_id: int) -> Callback | None:
    """The lead's open or claimed callback, if any (one live callback per lead)."""
    return Callback.objects.filter(
        lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()


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
    """Open alerts for the coordinators on duty or the supervisors (not the notices
    addressed to one coordinator, see :func:`console_alerts`)."""
    return (
        StaffAlert.objects.filter(resolved_at__isnull=True)
        .exclude(audience=StaffAlert.Audience.COORDINATOR)
        .select_related("callback")
    )


def console_alerts(*, user_id: int, limit: int = 20) -> tuple[list[StaffAlert], list[StaffAlert]]:
    """For the console, in one query: open alerts for the coordinators on duty or the
    supervisors, and this user's notices (callbacks a supervisor gave them that they
    have not opened yet, with the person's first name), notices first."""
    rows = list(
        StaffAlert.objects.filter(resolved_at__isnull=True)
        .filter(
            ~Q(audience=StaffAlert.Audience.COORDINATOR)
            | Q(recipient_id=user_id, callback__status__in=LIVE)
        )
        .select_related("callback__lead")
        .order_by(F("recipient_id").asc(nulls_last=True), "-created_at")[:limit]
    )
    notices = [row for row in rows if row.audience == StaffAlert.Audience.COORDINATOR]
    return [row for row in rows if row not in notices], notices


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
                status="spam"
                if submission.is_spam
                else "cancelled by its link"
                if submission.cancelled_at
                else "",
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
    decisions = CrisisDecision.objects.filter(callback__lead=lead).select_related("decided_by")
    for decision in decisions:
        retry = ""
        if decision.retry_at:
            when = timezone.localtime(decision.retry_at, business_time.clinic_zone())
            retry = f" at {when:%a %d %b %H:%M}"
        entries.append(
            TimelineEntry(
                at=decision.created_at,
                kind="decision",
                title=f"Supervisor {decision.decided_by.get_username()} decided: "
                f"{decision.get_action_display().lower()}{retry}",
                detail=decision.reason,
            )
        )
    attempts = CallAttempt.objects.filter(callback__lead=lead).select_related("coordinator")
    for attempt in attempts:
        entries.append(
            TimelineEntry(
                at=attempt.created_at,
                kind="attempt",
                title=f"Call by {attempt.coordinator.get_username()}: "
                + ", ".join(
                    what.lower()
                    for what in (
                        attempt.get_result_display(),
                        _call_length(attempt.duration_seconds) if attempt.result else "",
                        attempt.get_outcome_display() or "no outcome logged yet",
                    )
                    if what
                ),
                detail=attempt.notes,
            )
        )
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


@dataclass(frozen=True)
class CrisisRequest:
    """A crisis submission as the callback page shows it: what that request says, with
    the phone and email it gave, never as the person's own words (anyone who knows a
    person's number or address can send one)."""

    submission: Submission
    #: The request gave the lead's own number / address (not proof: it can be typed).
    phone_is_leads: bool
    email_is_leads: bool
    #: Where to reach the person first: the number this request gave, else the lead's.
    call_first: Any
    call_first_is_requests: bool


def crisis_requests(*, lead: Lead) -> list[CrisisRequest]:
    """The lead's crisis requests (not spam), newest first, each with its own details."""
    found = []
    for submission in intake_selectors.lead_submissions(lead_id=lead.pk):
        if not submission.is_crisis or submission.is_spam:
            continue
        found.append(
            CrisisRequest(
                submission=submission,
                phone_is_leads=bool(submission.phone_hash)
                and submission.phone_hash == lead.phone_hash,
                email_is_leads=bool(submission.email_hash)
                and submission.email_hash == lead.email_hash,
                call_first=submission.phone or lead.phone or None,
                call_first_is_requests=bool(submission.phone),
            )
        )
    return found


def alert_reason(alert: StaffAlert, *, crisis: bool) -> str:
    """Why the alert was raised, in words a supervisor acts on (no personal data)."""
    callback = alert.callback
    kind = alert.kind
    if kind == StaffAlert.Kind.URGENT:
        if crisis:
            return "Crisis request: not reached yet"
        return "Urgent: a missed call to the clinic, not called back yet"
    if kind == StaffAlert.Kind.CRISIS_DECISION:
        tries = callback.unanswered_attempts
        return (
            f"Crisis request not reached after {tries} call{'' if tries == 1 else 's'}: "
            "decide whether to keep trying or close it"
        )
    if kind == StaffAlert.Kind.UNCLAIMED:
        return "Past its due time and nobody has taken it"
    if kind == StaffAlert.Kind.PATIENT_REPLIED:
        return "The person replied by text"
    if kind == StaffAlert.Kind.ASSIGNED:
        return (
            "A supervisor gave you a crisis callback"
            if crisis
            else "A supervisor gave you a callback"
        )
    return StaffAlert.Kind(kind).label


# The board's lists, each with its count: the count is of the same filter, so what a
# count says is what its list holds (the first BOARD_ROWS are shown, "and N more" after).
BOARD_ROWS = 100
DUE_SOON = timedelta(minutes=30)


def _board_filters(now: datetime) -> dict[str, Q]:
    return {
        # Every live urgent callback, also one waiting for its next (crisis) try.
        "urgent": Q(is_urgent=True),
        "overdue": Q(due_at__lt=now),
        "due_soon": Q(due_at__gte=now, due_at__lt=now + DUE_SOON),
        "in_progress": Q(status=Callback.Status.CLAIMED),
    }


@dataclass
class BoardAlert:
    """An open alert as the board shows it: whose, why, since when."""

    alert: StaffAlert
    first_name: str
    crisis: bool
    reason: str
    deciding: bool  # a crisis awaiting the supervisor's decision
    errors: dict[str, str] = field(default_factory=dict)  # a refused decision's, by field


def supervisor_board() -> dict[str, Any]:
    """The supervisor's board: counts and lists of urgent, overdue, due-soon and
    in-progress callbacks, open alerts (with the person's first name, why and since
    when), and load per coordinator."""
    now = timezone.now()
    filters = _board_filters(now)
    live = Callback.objects.filter(status__in=LIVE)
    counts = live.aggregate(**{name: Count("pk", filter=q) for name, q in filters.items()})
    lists = {name: list(callback_queue().filter(q)[:BOARD_ROWS]) for name, q in filters.items()}
    alerts_open = staff_alerts_open().select_related("callback__lead", "acknowledged_by")
    counts["alerts"] = alerts_open.count()
    # What needs a supervisor most first: a decision, then a crisis; oldest first.
    first = Case(
        When(kind=StaffAlert.Kind.CRISIS_DECISION, then=Value(0)),
        When(kind=StaffAlert.Kind.URGENT, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    alerts = list(alerts_open.order_by(first, "created_at", "pk")[:BOARD_ROWS])
    shown = [callback for rows in lists.values() for callback in rows]
    shown += [alert.callback for alert in alerts]
    crisis = intake_selectors.lead_ids_in_crisis(
        lead_ids=sorted({callback.lead_id for callback in shown})
    )
    for callback in shown:
        callback.crisis = callback.is_urgent and callback.lead_id in crisis
    deciding = {
        alert.callback_id for alert in alerts if alert.kind == StaffAlert.Kind.CRISIS_DECISION
    }
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
        **lists,
        "more": {name: counts[name] - len(rows) for name, rows in lists.items()},
        "deciding": deciding,
        "load": users,
        "alerts": [
            BoardAlert(
                alert=alert,
                first_name=alert.callback.lead.first_name,
                crisis=alert.callback.crisis,
                reason=alert_reason(alert, crisis=alert.callback.crisis),
                deciding=alert.kind == StaffAlert.Kind.CRISIS_DECISION,
            )
            for alert in alerts
        ],
        "counts": counts,
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


# What the coordinator is told when a booking confirmation went nowhere (it goes only
# to details the person proved: scheduling.services.consultations).
BOOKING_UNSENT_UNVERIFIED = (
    "No verified detail to send the confirmation to: confirm the phone or email with "
    "the person first, and tell them the time yourself."
)
BOOKING_UNSENT_VERIFIED = (
    "The confirmation could not go to any verified detail (no consent to texts, or the "
    "number takes none): tell the person the time yourself, or confirm their email "
    "with them."
)


def appointment_booking_sent_to(*, appointment_id: int) -> list[str]:
    """The channels ("sms", "email") the booking confirmation went or is going by."""
    return [
        channel
        for channel in ("sms", "email")
        if notification_selectors.message_going(
            dedupe_key=f"appointment-booked:{appointment_id}:{channel}"
        )
    ]


def appointment_booking_notice(*, appointment_id: int) -> str:
    """What the coordinator must know about a booking's confirmation: "" when it went
    to at least one verified detail, else why not and what to do."""
    if appointment_booking_sent_to(appointment_id=appointment_id):
        return ""
    lead_id = Appointment.objects.filter(pk=appointment_id).values_list("lead_id", flat=True)
    verified = intake_selectors.lead_verification(lead_id=lead_id.first() or 0)
    if verified.phone or verified.email:
        return BOOKING_UNSENT_VERIFIED
    return BOOKING_UNSENT_UNVERIFIED


def attempts_undoable(*, user_id: int, now: datetime | None = None) -> QuerySet[CallAttempt]:
    """The closing outcomes ``user_id`` logged that they may still take back
    (``services.attempt_undo``), newest first, with their callback and lead."""
    now = now or timezone.now()
    return (
        CallAttempt.objects.filter(
            coordinator_id=user_id,
            undone_at__isnull=True,
            created_at__gt=now - CallAttempt.UNDO_WINDOW,
            callback__status=Callback.Status.DONE,
        )
        .exclude(undo_state={})
        .select_related("callback__lead")
        .order_by("-created_at")
    )


def console_shortcuts_enabled(*, user_id: int) -> bool:
    """Whether the user keeps the console's single-key shortcuts (on until turned off)."""
    enabled = (
        ConsolePreference.objects.filter(user_id=user_id)
        .values_list("shortcuts_enabled", flat=True)
        .first()
    )
    return enabled is not False


def attempt_get(*, attempt_id: int) -> CallAttempt | None:
    return (
        CallAttempt.objects.select_related("callback__lead", "coordinator")
        .filter(pk=attempt_id)
        .first()
    )


def attempt_last(*, callback_id: int, user_id: int) -> CallAttempt | None:
    """The last call ``user_id`` logged on the callback."""
    return (
        CallAttempt.objects.filter(callback_id=callback_id, coordinator_id=user_id)
        .order_by("-created_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class RequestChoicesInForce:
    """What holds for one request, as its link's page shows it: only what that request
    and its link said, never the lead's (the link went to an address nobody verified)."""

    no_voicemail: bool
    no_clinic_name: bool
    no_texts: bool
    cancelled: bool
    #: Until when the link's cancel can be undone from the page (None: it cannot).
    undo_until: datetime | None

    @property
    def any(self) -> bool:
        return self.no_voicemail or self.no_clinic_name or self.no_texts or self.cancelled


def request_choices_in_force(*, submission: Submission) -> RequestChoicesInForce:
    """The choices in force for ``submission``: its own no-voicemail and no-clinic-name
    wishes, no texts (no phone, no consent to texts, or asked for on the link), and
    whether it is cancelled, with the undo's deadline while it lasts."""
    choices = RequestLinkChoices.objects.filter(submission_id=submission.pk).first()
    until = choices.undo_until if choices else None
    cancelled = submission.cancelled_at is not None
    return RequestChoicesInForce(
        no_voicemail=not submission.voicemail_ok,
        no_clinic_name=not submission.mention_clinic_ok,
        no_texts=not submission.phone
        or not submission.sms_consent
        or bool(choices and choices.texts_stopped_at),
        cancelled=cancelled,
        undo_until=until if cancelled and until and until > timezone.now() else None,
    )


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
    if notification_selectors.contact_refused(phone=lead.phone):
        raise ApplicationError(
            "This person asked not to be contacted.", code="refused", status_code=409
        )
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


@dataclass(frozen=True)
class CallProgress:
    """Where a bridged call is, for the member of staff who placed it (no personal
    data): ``status`` is one of ringing (their phone), connecting (they answered, the
    person is not dialled yet), dialling (the person's phone rings), connected, ended,
    failed (never placed, or their phone could not be reached); ``result`` is the
    logged attempt's, once the person's leg ended."""

    call_id: int
    status: str
    label: str
    result: str
    ended: bool


def call_progress(*, call: Call) -> CallProgress:
    legs = {leg.role: leg for leg in call.legs.all()}
    staff, person = legs.get(CallLeg.Role.COORDINATOR), legs.get(CallLeg.Role.PERSON)
    attempt = CallAttempt.objects.filter(call=call).values_list("result", flat=True).first()
    result = attempt or ""
    unreached = (CallLeg.Status.BUSY, CallLeg.Status.NO_ANSWER, CallLeg.Status.FAILED)
    if person is not None and person.status == CallLeg.Status.IN_PROGRESS:
        status, label = "connected", "Connected."
    elif person is not None and call.ended_at is None and not result:
        status, label = "dialling", "Your phone answered: calling the person…"
    elif staff is not None and staff.status == CallLeg.Status.FAILED and person is None:
        status, label = "failed", "The call could not be placed. Nothing was changed."
    elif call.ended_at is not None or result:
        if result:
            label = f"Call ended: {CallAttempt.Result(result).label.lower()}."
        elif staff is not None and staff.status in unreached:
            label = "Call ended: your phone did not answer."
        else:
            label = "Call ended: the person was not dialled."
        status = "ended"
    elif staff is not None and staff.status == CallLeg.Status.IN_PROGRESS:
        status, label = "connecting", "Your phone answered: press 1 to call the person."
    else:
        status, label = "ringing", "Ringing your phone…"
    return CallProgress(
        call_id=call.pk,
        status=status,
        label=label,
        result=result,
        ended=call.ended_at is not None or status in ("failed", "ended"),
    )


def call_live_for(*, user_id: int, callback_id: int) -> Call | None:
    """The newest click-to-call ``user_id`` placed on the callback in the last hours,
    if any (the console shows how it goes)."""
    return (
        Call.objects.filter(
            coordinator_id=user_id,
            callback_id=callback_id,
            kind=Call.Kind.CLICK_TO_CALL,
            created_at__gt=timezone.now() - timedelta(hours=1),
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def staff_phone_verified(*, user_id: int) -> str:
    """The user's own phone for the clinic's calls if confirmed with its code, else ""."""
    return (
        StaffCallSettings.objects.filter(user_id=user_id, verified_at__isnull=False)
        .exclude(phone="")
        .values_list("phone", flat=True)
        .first()
    ) or ""


def softphone_configured() -> bool:
    """The console's browser softphone is set up (an API key and a TwiML App)."""
    return bool(
        settings.TWILIO_API_KEY and settings.TWILIO_API_SECRET and settings.TWILIO_TWIML_APP_SID
    )


def click_to_call_blocker(
    *, callback: Callback, user_id: int, browser: bool = False
) -> ApplicationError | None:
    """Why the holder ``user_id`` may not call ``callback`` from the clinic's number
    now (the 409 ``services.click_to_call`` answers, its message shown by the console's
    disabled Call button), or None if they may. Who holds the callback is the
    caller's to check first; a call live past its time is the service's to end. With
    ``browser`` the call is from the console's softphone: no phone of one's own is
    rung, but the softphone must be set up."""
    if browser and not softphone_configured():
        return ApplicationError(
            "No browser softphone is set up: call from the clinic's number instead.",
            code="softphone_not_configured",
            status_code=409,
        )
    if not browser and not staff_phone_verified(user_id=user_id):
        return ApplicationError(
            "Confirm your own phone on your profile page first: the clinic's phone rings "
            "it before dialling the person.",
            code="phone_unverified",
            status_code=409,
        )
    if not settings.CLINIC_CALLER_ID:
        return ApplicationError(
            "The clinic's caller ID is not set up (CLINIC_CALLER_ID): call from your own "
            "phone instead.",
            code="caller_id_missing",
            status_code=409,
        )
    if callback_refusals(callback=callback).pending:
        return ApplicationError(
            "This person asked not to be contacted before: read the refusal and "
            "acknowledge it first.",
            code="refusal_unacknowledged",
            status_code=409,
        )
    try:
        call_person(call=Call(callback=callback))
    except ApplicationError as error:
        return error
    if calls_live_of(user_id=user_id).exists():
        return ApplicationError(
            "You are on a call already: end it first.", code="call_in_progress", status_code=409
        )
    return None


# A call still live this long after it was placed ended without telling us (its last
# status callback lost); also the longest a call may last at the provider.
CALL_MAX = timedelta(hours=4)
# A call whose staff leg heard nothing from the provider this long after it was made
# was never placed, or its callbacks were lost.
CALL_UNHEARD_AFTER = timedelta(minutes=2)


def calls_stale(*, now: datetime) -> Q:
    """Calls not ended that can no longer be live (see ``CALL_MAX``,
    ``CALL_UNHEARD_AFTER``)."""
    return Q(created_at__lte=now - CALL_MAX) | Q(
        created_at__lte=now - CALL_UNHEARD_AFTER,
        legs__role=CallLeg.Role.COORDINATOR,
        legs__status=CallLeg.Status.QUEUED,
    )


def calls_live_of(*, user_id: int) -> QuerySet[Call]:
    """The calls ringing or bridging ``user_id``'s phone now."""
    return Call.objects.filter(coordinator_id=user_id, ended_at__isnull=True).exclude(
        pk__in=Call.objects.filter(calls_stale(now=timezone.now())).values("pk")
    )


def _call_length(seconds: int | None) -> str:
    if not seconds:
        return ""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def call_id_of_staff_leg(*, provider_id: str) -> int | None:
    """The call whose member of staff's leg has this provider id, if any."""
    return (
        CallLeg.objects.filter(provider_id=provider_id, role=CallLeg.Role.COORDINATOR)
        .values_list("call_id", flat=True)
        .first()
    )
