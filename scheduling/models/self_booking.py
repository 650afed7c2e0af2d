"""Consultations the person books, moves and cancels from their own link, and who
changed each consultation: what the coordinators see on the callback and
appointments pages."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clinic.audit.events import audited


@audited()
class AppointmentChange(models.Model):
    """One change of a consultation (booked, moved, cancelled) and who made it: a
    coordinator (``user``), the person from their own link, or the clinic (no one at a
    desk: an API client without a user, a data fix). Written in the same transaction
    as the change itself, so the history never says what did not happen."""

    class Kind(models.TextChoices):
        BOOKED = "booked", "Booked"
        MOVED = "moved", "Moved"
        CANCELLED = "cancelled", "Cancelled"

    class Actor(models.TextChoices):
        COORDINATOR = "coordinator", "Coordinator"
        PERSON_LINK = "person_link", "The person, by their link"
        CLINIC = "clinic", "The clinic"

    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.CASCADE, related_name="changes"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.CharField(max_length=12, choices=Actor.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The consultation's time after the change, and before it (a move).
    starts_at = models.DateTimeField()
    previous_starts_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["appointment", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.get_actor_display().lower()}"


@audited()
class BookingLinkUse(models.Model):
    """A booking link that booked a consultation. The link's nonce is unique here, so
    one link books once: a second booking with it (another tab, a replayed form, a
    race) fails in the database and the whole booking is rolled back."""

    nonce = models.CharField(max_length=32, unique=True)
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Booking link used for appointment {self.appointment_id}"
