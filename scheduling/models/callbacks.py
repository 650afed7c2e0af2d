"""The callback queue coordinators work: callbacks, the attempts logged on them, staff
alerts, crisis decisions, each coordinator's console settings, and what a request's link
asked for."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from clinic.audit.events import audited
from clinic.crypto import EncryptedTextField


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
