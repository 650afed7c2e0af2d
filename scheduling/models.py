"""The callback queue coordinators work, their calls, and consultations."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import F, Q

from clinic.audit.events import audited
from clinic.crypto import EncryptedTextField
from clinic.models import OpeningHours


@audited()
class Callback(models.Model):
    """A promise to call a lead back, worked by coordinators from the queue."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    class Result(models.TextChoices):
        REACHED = "reached", "Reached"
        UNREACHABLE = "unreachable", "Unreachable after every try"
        CLOSED = "closed", "Closed (not interested, wrong number, do not contact)"
        MERGED = "merged", "Replaced by a newer request"

    lead = models.ForeignKey("intake.Lead", on_delete=models.CASCADE, related_name="callbacks")
    submission = models.ForeignKey(
        "intake.Submission", on_delete=models.CASCADE, related_name="callbacks"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    result = models.CharField(max_length=20, choices=Result.choices, blank=True)
    is_urgent = models.BooleanField(default=False)
    patient_replied = models.BooleanField(default=False)
    due_at = models.DateTimeField()
    # The first due time: a retried callback keeps its place in the queue by it.
    original_due_at = models.DateTimeField()
    # A retry is not handed out before this time (empty: ready now).
    retry_at = models.DateTimeField(null=True, blank=True)
    unanswered_attempts = models.PositiveSmallIntegerField(default=0)
    # 0 none, 1 the pool was alerted, 2 a supervisor was alerted.
    escalation_level = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="claimed_callbacks",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # A refusal of the person's phone or email ("previously refused") was read: calls
    # are logged only after refusals recorded up to this moment were acknowledged.
    refusal_acknowledged_at = models.DateTimeField(null=True, blank=True)
    refusal_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-is_urgent", "original_due_at"]
        constraints = [
            # One live callback per lead: a second submission never queues a second call.
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(status__in=["open", "claimed"]),
                name="callback_one_live_per_lead",
            ),
        ]
        indexes = [
            # The queue's own order (urgent first, then by first due time), live rows only.
            models.Index(
                F("is_urgent").desc(),
                "original_due_at",
                "id",
                name="callback_queue",
                condition=Q(status__in=["open", "claimed"]),
            ),
            # Claim-next probes these in turn: urgent, then overdue (the front of the
            # queue by original due time), then patient replied, then the rest.
            models.Index(
                "original_due_at",
                "id",
                name="callback_ready",
                condition=Q(status__in=["open", "claimed"]),
            ),
            models.Index(
                "due_at",
                name="callback_ready_due",
                condition=Q(status__in=["open", "claimed"]),
            ),
            models.Index(
                "original_due_at",
                "id",
                name="callback_ready_urgent",
                condition=Q(status__in=["open", "claimed"], is_urgent=True),
            ),
            models.Index(
                "original_due_at",
                "id",
                name="callback_ready_replied",
                condition=Q(status__in=["open", "claimed"], patient_replied=True),
            ),
            # Claims only (a few rows, one or so per coordinator): claim-next's "what do
            # I hold" and one-claim rule in claim order, and the lease-expiry sweep,
            # instead of the foreign key's index over every callback ever made.
            models.Index(
                "claimed_by",
                "claimed_at",
                "id",
                name="callback_claims",
                condition=Q(status="claimed"),
            ),
        ]

    def __str__(self) -> str:
        return f"Callback {self.pk} ({self.status})"


@audited(personal=["notes"])
class CallAttempt(models.Model):
    """One call (or try) a coordinator made, and how it went."""

    class Outcome(models.TextChoices):
        REACHED = "reached", "Reached"
        BOOKED = "booked", "Reached and booked a consultation"
        CALL_BACK_LATER = "call_back_later", "Asked to be called back later"
        NOT_INTERESTED = "not_interested", "Not interested"
        NO_ANSWER = "no_answer", "No answer"
        VOICEMAIL = "voicemail", "Left a voicemail"
        WRONG_NUMBER = "wrong_number", "Wrong number"
        DO_NOT_CONTACT = "do_not_contact", "Asked not to be contacted"

    # How long the coordinator who logged a closing outcome may take it back: long
    # enough to notice the wrong choice, short enough that nobody has acted on it.
    UNDO_WINDOW = timedelta(minutes=10)

    class Result(models.TextChoices):
        """How a call placed by the clinic's phone went, as Twilio reported it."""

        CONNECTED = "connected", "Connected"
        NO_ANSWER = "no_answer", "No answer"
        BUSY = "busy", "Busy"
        VOICEMAIL = "voicemail", "Voicemail left"
        FAILED = "failed", "Failed"

    callback = models.ForeignKey(Callback, on_delete=models.CASCADE, related_name="attempts")
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="call_attempts"
    )
    # Empty only on an attempt a call logged by itself (``call``) until its coordinator
    # adds the outcome.
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    # The bridged call that logged this attempt by itself (``services.call_log``); empty
    # for an attempt typed in by hand, as are the call's facts below.
    call = models.OneToOneField(
        "Call", on_delete=models.SET_NULL, null=True, blank=True, related_name="attempt"
    )
    result = models.CharField(max_length=20, choices=Result.choices, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    notes = EncryptedTextField(blank=True)
    call_back_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # What a closing outcome changed, so the coordinator who logged it can undo it for
    # a few minutes (``services.attempt_undo``): the lead's stage before, whether this
    # attempt recorded the number's opt-out, the alerts it settled. Names and ids only.
    undo_state = models.JSONField(default=dict, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Attempt {self.pk} ({self.outcome})"


@audited()
class ConsolePreference(models.Model):
    """How one staff member works the console; a row is made at their first change."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="console_preference"
    )
    # Single-key shortcuts (WCAG 2.1.4: they can be turned off).
    shortcuts_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Console preferences of user {self.user_id}"


@audited()
class StaffAlert(models.Model):
    """Something a coordinator or supervisor must look at (shown in the console).

    An alert is open until resolved. Acknowledging says a supervisor has seen it: that
    resolves an ordinary alert, but an urgent one (a crisis, or a missed call) and a
    crisis awaiting a supervisor's decision stay open until the person is reached or a
    supervisor decides (``KEPT_UNTIL_SETTLED``)."""

    class Kind(models.TextChoices):
        UNCLAIMED = "unclaimed", "Callback waiting past its due time"
        URGENT = "urgent", "Urgent (crisis) request"
        PATIENT_REPLIED = "patient_replied", "Patient replied"
        CRISIS_DECISION = "crisis_decision", "Crisis not reached after every crisis retry"
        ASSIGNED = "assigned", "Callback given to you by a supervisor"

    class Audience(models.TextChoices):
        POOL = "pool", "Coordinators on duty"
        SUPERVISOR = "supervisor", "Supervisors"
        # One person (``recipient``): the coordinator a callback was given to.
        COORDINATOR = "coordinator", "The coordinator it was given to"

    KEPT_UNTIL_SETTLED = (Kind.URGENT, Kind.CRISIS_DECISION)

    callback = models.ForeignKey(Callback, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    audience = models.CharField(max_length=20, choices=Audience.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="staff_notices",
        help_text="For the one-person audience: who it is for.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["callback", "kind", "audience"], name="staff_alert_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.get_audience_display()}"


@audited(personal=["reason"])
class CrisisDecision(models.Model):
    """A supervisor settles a crisis callback that was not reached after every crisis
    retry: keep trying at a time they choose, or close it as unreachable; with why."""

    class Action(models.TextChoices):
        RETRY = "retry", "Keep trying"
        CLOSE = "close", "Close: unreachable"

    callback = models.ForeignKey(
        Callback, on_delete=models.CASCADE, related_name="crisis_decisions"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    retry_at = models.DateTimeField(null=True, blank=True)
    # The supervisor's words: they may name the person or what was said, so encrypted.
    reason = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action="close") | Q(retry_at__isnull=False),
                name="crisis_decision_retry_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} (callback {self.callback_id})"


@audited(personal=["name"])
class Clinician(models.Model):
    """Someone who holds consultations; their week comes from availability templates."""

    name = models.CharField(max_length=200)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    slot_minutes = models.PositiveSmallIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=10) & Q(slot_minutes__lte=240),
                name="clinician_slot_minutes_sane",
            ),
        ]

    def __str__(self) -> str:
        return self.name


@audited()
class Availability(models.Model):
    """A clinician's usual hours on a weekday (clinic time zone)."""

    clinician = models.ForeignKey(Clinician, on_delete=models.CASCADE, related_name="availability")
    weekday = models.PositiveSmallIntegerField(choices=OpeningHours.Weekday.choices)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["clinician", "weekday", "starts_at"]
        verbose_name_plural = "availability"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="availability_ends_after_starts"
            ),
        ]

    def __str__(self) -> str:
        hours = f"{self.starts_at:%H:%M}-{self.ends_at:%H:%M}"
        return f"{self.clinician}: {self.get_weekday_display()} {hours}"


@audited()
class AvailabilityException(models.Model):
    """A change to a clinician's usual week on one day: off (all day, or some hours)
    or extra hours."""

    class Kind(models.TextChoices):
        OFF = "off", "Not available"
        EXTRA = "extra", "Extra hours"

    clinician = models.ForeignKey(Clinician, on_delete=models.CASCADE, related_name="exceptions")
    day = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.OFF)
    starts_at = models.TimeField(null=True, blank=True, help_text="Empty: the whole day.")
    ends_at = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["day", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(starts_at__isnull=True) & Q(ends_at__isnull=True))
                | Q(ends_at__gt=F("starts_at")),
                name="availability_exception_hours",
            ),
            models.CheckConstraint(
                condition=Q(kind="off") | Q(starts_at__isnull=False),
                name="availability_exception_extra_has_hours",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinician} {self.get_kind_display().lower()} on {self.day}"


@audited()
class Appointment(models.Model):
    """A consultation booked for a lead with a clinician."""

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CONFIRMED = "confirmed", "Confirmed by the person"
        RESCHEDULE_REQUESTED = "reschedule_requested", "Asked to reschedule"
        CANCELLED = "cancelled", "Cancelled"
        ATTENDED = "attended", "Attended"
        NO_SHOW = "no_show", "No-show"

    ACTIVE = (Status.BOOKED, Status.CONFIRMED, Status.RESCHEDULE_REQUESTED)

    lead = models.ForeignKey("intake.Lead", on_delete=models.CASCADE, related_name="appointments")
    clinician = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="appointments")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=25, choices=Status.choices, default=Status.BOOKED)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            # Double booking is impossible: one active appointment per clinician and start.
            models.UniqueConstraint(
                fields=["clinician", "starts_at"],
                condition=Q(status__in=["booked", "confirmed", "reschedule_requested"]),
                name="appointment_no_double_booking",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="appointment_ends_after_starts"
            ),
        ]
        indexes = [models.Index(fields=["status", "starts_at"])]

    def __str__(self) -> str:
        return f"Appointment {self.pk} ({self.status})"


@audited(personal=["phone", "phone_hash", "code_hash"])
class StaffCallSettings(models.Model):
    """A member of staff's own phone for the clinic's calls, and whether they take
    instant calls. A bridged call rings this phone first, so it is used only once its
    owner typed back the code texted to it (``verified_at``); a new number starts
    unverified and unavailable."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="call_settings"
    )
    phone = models.CharField(max_length=20, blank=True, help_text="E.164.")
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Takes instant calls for new requests (only with a verified phone).
    available = models.BooleanField(default=False)
    available_since = models.DateTimeField(null=True, blank=True)
    # The code last texted to ``phone``: a keyed hash, never the code; until when it
    # works and how many wrong tries it has taken.
    code_hash = models.CharField(max_length=64, blank=True, editable=False)
    code_sent_at = models.DateTimeField(null=True, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_tries = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "staff call settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(available=False) | (Q(verified_at__isnull=False) & ~Q(phone="")),
                name="staff_call_settings_available_needs_verified_phone",
            ),
        ]
        indexes = [
            # Who takes instant calls, longest-waiting first.
            models.Index(
                "available_since", name="staff_call_settings_available", condition=Q(available=True)
            ),
        ]

    def __str__(self) -> str:
        return f"Call settings #{self.pk}"


@audited()
class Call(models.Model):
    """A bridged call the clinic's phone places for a callback: it rings a member of
    staff's own phone first, and on their "1" dials the person from the clinic's caller
    ID. The person's number is read from the lead when the call reaches it, never
    stored here or put in a URL; what Twilio reports about each leg is in ``legs``."""

    class Kind(models.TextChoices):
        CLICK_TO_CALL = "click_to_call", "Click to call"
        INSTANT = "instant", "Instant call for a new request"

    callback = models.ForeignKey(Callback, on_delete=models.CASCADE, related_name="calls")
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The round of instant calls this one rang in (an instant call only).
    instant_round = models.ForeignKey(
        "InstantCallRound", on_delete=models.CASCADE, null=True, blank=True, related_name="calls"
    )
    # CALL_RECORDING as the call was placed: both parties hear the notice and the
    # bridge is recorded, even if the setting changes mid-call.
    recorded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once nothing more may happen on the call: its TwiML then only hangs up.
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One instant call per member of staff at a time: two new requests at once
            # never ring the same phone twice.
            models.UniqueConstraint(
                fields=["coordinator"],
                condition=Q(kind="instant", ended_at__isnull=True),
                name="call_one_live_instant_per_coordinator",
            ),
            # One click-to-call per member of staff at a time: a double press places one.
            models.UniqueConstraint(
                fields=["coordinator"],
                condition=Q(kind="click_to_call", ended_at__isnull=True),
                name="call_one_live_click_to_call_per_coordinator",
            ),
        ]

    def __str__(self) -> str:
        return f"Call {self.pk} ({self.kind})"


@audited()
class CallLeg(models.Model):
    """One leg of a bridged call as Twilio reports it: the member of staff's phone, or
    the person's. Status callbacks only move it forward (Twilio's order), so a repeated
    or late callback changes nothing."""

    class Role(models.TextChoices):
        COORDINATOR = "coordinator", "Coordinator's phone"
        PERSON = "person", "The person's phone"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        INITIATED = "initiated", "Dialling"
        RINGING = "ringing", "Ringing"
        IN_PROGRESS = "in-progress", "Answered"
        COMPLETED = "completed", "Completed"
        BUSY = "busy", "Busy"
        NO_ANSWER = "no-answer", "No answer"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="legs")
    role = models.CharField(max_length=20, choices=Role.choices)
    provider_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    # Answering machine detection's verdict (human, machine_end_beep, fax...), if it ran.
    answered_by = models.CharField(max_length=30, blank=True)
    initiated_at = models.DateTimeField(null=True, blank=True)
    ringing_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["call", "role"]
        constraints = [
            models.UniqueConstraint(fields=["call", "role"], name="call_leg_one_per_role"),
        ]

    def __str__(self) -> str:
        return f"Call {self.call_id} {self.role} leg ({self.status})"


@audited()
class InstantCallRound(models.Model):
    """A new request rang the available members of staff at once
    (``services.instant_calls``): one ``Call`` each, the first to press 1 takes the
    callback's claim and is bridged to the person, the others' calls are ended. One
    round per request (a redelivered task rings nobody twice) and one ringing round
    per callback."""

    class Status(models.TextChoices):
        RINGING = "ringing", "Ringing"
        TAKEN = "taken", "Taken"
        UNANSWERED = "unanswered", "Nobody took it in time"
        # Claimed from the queue, or closed, before anyone pressed 1.
        WITHDRAWN = "withdrawn", "Taken from the queue meanwhile"

    callback = models.ForeignKey(Callback, on_delete=models.CASCADE, related_name="instant_rounds")
    submission = models.OneToOneField(
        "intake.Submission", on_delete=models.CASCADE, related_name="instant_round"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RINGING)
    created_at = models.DateTimeField(auto_now_add=True)
    # Nobody may take it after this: the phones ring for INSTANT_CALL_RING_SECONDS,
    # and whoever answered in that time has a few seconds more to press 1.
    take_until = models.DateTimeField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["callback"],
                condition=Q(status="ringing"),
                name="instant_call_round_one_ringing_per_callback",
            ),
            models.CheckConstraint(
                condition=Q(status="taken", taken_by__isnull=False, taken_at__isnull=False)
                | (~Q(status="taken") & Q(taken_at__isnull=True)),
                name="instant_call_round_taken_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"Instant call round {self.pk} ({self.status})"


# Staff accounts and their roles (group membership) are on the trail too. User and its
# groups table belong to django.contrib.auth, so they are tracked through proxy models
# declared here, as pgtrigger documents for third-party models: the event tables and the
# triggers on auth_user and auth_user_groups are then in this app's migrations, never in
# auth's. Names, email and the password hash are never stored; a sign-in (last_login) is
# not a change. The proxies carry no permissions of their own: nothing else uses them.
@audited(
    personal=["first_name", "last_name", "email"],
    skip=["password", "last_login"],
    model_name="UserEvent",
)
class StaffUser(get_user_model()):
    """A staff account (``auth.User``), tracked for the audit trail."""

    class Meta:
        proxy = True
        default_permissions = ()


@audited(model_name="UserGroupsEvent")
class StaffUserGroups(get_user_model().groups.through):
    """A staff account's role (``auth_user_groups``), tracked for the audit trail."""

    class Meta:
        proxy = True
        default_permissions = ()


@audited()
class RequestLinkChoices(models.Model):
    """What the holder of a request's link (the confirmation email's) chose for that
    one request, beyond what the submission itself records (its own no-voicemail and
    no-clinic-name wishes): no texts, and a cancel with exactly what it changed, so an
    undo from the same page restores that and never more (scheduling.services.
    request_link). One row per request; every change is on the audit trail."""

    submission = models.OneToOneField(
        "intake.Submission", on_delete=models.CASCADE, related_name="link_choices"
    )
    texts_stopped_at = models.DateTimeField(
        null=True, blank=True, help_text="The link asked for no texts to this request's phone."
    )
    cancelled_at = models.DateTimeField(
        null=True, blank=True, help_text="The last cancel from the link (empty once undone)."
    )
    # What that cancel did, for its undo: the lead's stage before the cancel closed it
    # (empty: it closed no lead), and the callback it cancelled.
    lead_stage_before = models.CharField(max_length=20, blank=True)
    callback = models.ForeignKey(
        Callback, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    consultations_cancelled = models.PositiveSmallIntegerField(
        default=0, help_text="Consultations the cancel cancelled: an undo does not rebook them."
    )
    restored_at = models.DateTimeField(
        null=True, blank=True, help_text="When the person last undid a cancel."
    )
    updated_at = models.DateTimeField(auto_now=True)

    #: How long a cancel from the link can be undone from the same page.
    UNDO_WINDOW = timedelta(hours=24)

    class Meta:
        verbose_name = "request link choices"
        verbose_name_plural = "request link choices"

    def __str__(self) -> str:
        return f"Link choices of submission {self.submission_id}"

    @property
    def undo_until(self) -> datetime | None:
        """Until when the link's cancel can be undone; None when there is none to undo."""
        return self.cancelled_at + self.UNDO_WINDOW if self.cancelled_at else None


@audited()
class CallRecording(models.Model):
    """A recording Twilio made of a bridged call (only with ``CALL_RECORDING``). The
    audio stays at Twilio and is played through the app only
    (``services.recordings``); this row keeps its id, never its URL, and when it was
    deleted at Twilio (``CALL_RECORDING_RETENTION_DAYS`` after it was made)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="recordings")
    provider_id = models.CharField(max_length=64, unique=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # When the recording started at Twilio (retention counts from here).
    created_at = models.DateTimeField()
    # When it was deleted at Twilio (or found gone there): it cannot be played since.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(deleted_at__isnull=True),
                name="call_recording_kept",
            ),
        ]

    def __str__(self) -> str:
        return f"Recording {self.pk} of call {self.call_id}"
