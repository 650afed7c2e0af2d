"""The waitlist: people a coordinator put on it when no consultation time was open soon
enough, and the open times offered to them by text (the first to accept gets it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.audit.events import audited
from clinic.crypto import EncryptedTextField
from scheduling.models.consultations import Appointment, Clinician


@audited(personal=["note"])
class WaitlistEntry(models.Model):
    """One person waiting for a consultation time, from ``earliest_date`` on. Waiting
    people are offered open times in the order they were added (``created_at``)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Waiting"
        OFFERED = "offered", "Offered a time"
        BOOKED = "booked", "Booked"
        REMOVED = "removed", "Removed"

    # Still waiting: offered a time or not.
    LIVE = (Status.ACTIVE, Status.OFFERED)

    lead = models.ForeignKey(
        "intake.Lead", on_delete=models.CASCADE, related_name="waitlist_entries"
    )
    # One of WAITLIST_REASONS; the coordinator's own words, if any, are in ``note``.
    reason = models.CharField(max_length=40)
    note = EncryptedTextField(blank=True)
    earliest_date = models.DateField(help_text="The first day (clinic time) the person can come.")
    # How the person wants to meet; empty: the clinic's default.
    modality = models.CharField(max_length=10, choices=Appointment.Modality.choices, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Who took the person off, and when (empty: the person did, from their link).
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(status__in=["active", "offered"]),
                name="waitlist_one_live_entry_per_lead",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Waitlist entry {self.pk} ({self.status})"


@audited()
class WaitlistOffer(models.Model):
    """One open time offered to a few waiting people at once; the first to accept gets
    it (one conditional update of ``accepted_entry``), the others are told it was
    taken and keep their place."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"
        # The time went another way (booked by a coordinator), or everyone declined.
        WITHDRAWN = "withdrawn", "Withdrawn"

    clinician = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    entries = models.ManyToManyField(
        WaitlistEntry, through="WaitlistOfferRecipient", related_name="offers"
    )
    accepted_entry = models.ForeignKey(
        WaitlistEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A time is offered once at a time: two sweeps cannot offer it twice.
            models.UniqueConstraint(
                fields=["clinician", "starts_at"],
                condition=Q(status="open"),
                name="waitlist_one_open_offer_per_time",
            ),
            models.CheckConstraint(
                condition=Q(status="accepted", accepted_entry__isnull=False)
                | ~Q(status="accepted"),
                name="waitlist_offer_accepted_has_entry",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"Waitlist offer {self.pk} ({self.status})"


class WaitlistOfferRecipient(models.Model):
    """One waiting person an offer went to, with their own link (offer and entry)."""

    offer = models.ForeignKey(WaitlistOffer, on_delete=models.CASCADE, related_name="recipients")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="+")
    offered_at = models.DateTimeField(auto_now_add=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    # When they were texted that someone else took the time.
    told_taken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["offered_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "entry"], name="waitlist_offer_once_per_entry")
        ]

    def __str__(self) -> str:
        return f"Offer {self.offer_id} to entry {self.entry_id}"
