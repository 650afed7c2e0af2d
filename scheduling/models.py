"""Clinic time and the callback queue coordinators work."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class OpeningHours(models.Model):
    """One open interval on a weekday; several per day allow a lunch break."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens_at"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="opening_hours_closes_after_opens"
            ),
            models.UniqueConstraint(fields=["weekday", "opens_at"], name="opening_hours_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class ClinicClosure(models.Model):
    """A whole day the clinic is closed (a holiday or an ad-hoc closure)."""

    day = models.DateField(unique=True)
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.reason}"


class Callback(models.Model):
    """A promise to call a lead back, worked by coordinators from the queue."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    lead = models.ForeignKey("intake.Lead", on_delete=models.CASCADE, related_name="callbacks")
    submission = models.ForeignKey(
        "intake.Submission", on_delete=models.CASCADE, related_name="callbacks"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    is_urgent = models.BooleanField(default=False)
    patient_replied = models.BooleanField(default=False)
    due_at = models.DateTimeField()
    # The first due time: a retried callback keeps its place in the queue by it.
    original_due_at = models.DateTimeField()
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
            models.Index(
                fields=["is_urgent", "original_due_at"],
                name="callback_queue",
                condition=Q(status__in=["open", "claimed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Callback {self.pk} ({self.status})"
