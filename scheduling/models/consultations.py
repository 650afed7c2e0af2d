"""Consultations: clinicians, their weekly availability and its exceptions, and
appointments."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from clinic.audit.events import audited
from clinic.models import OpeningHours


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

    class Modality(models.TextChoices):
        IN_PERSON = "in_person", "In person"
        VIDEO = "video", "By video"
        PHONE = "phone", "By phone"

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
    # How the consultation takes place: at the clinic's address, by a video link made
    # for this appointment (VIDEO_ROOM_URL), or by the clinician calling the person.
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.IN_PERSON)
    video_url = models.URLField(max_length=300, blank=True)
    # When it was last moved to another time (a move is a new booking for reminders).
    moved_at = models.DateTimeField(null=True, blank=True)
    # The calendar event's SEQUENCE (RFC 5545): raised with every change the person is
    # sent an invitation or cancellation for, so their calendar replaces the event.
    ics_sequence = models.PositiveIntegerField(default=0)

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
