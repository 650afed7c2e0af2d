"""The clinic's phone: each member of staff's own phone and availability, bridged calls and
their legs, rounds of instant calls, and call recordings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.audit.events import audited
from scheduling.models.callbacks import Callback


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
