"""Articles, the people who answer their calls to action, and what they agreed to."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from phonenumber_field.modelfields import PhoneNumberField

# No 0/O, 1/I/L: references are read out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference() -> str:
    """A public, unguessable name for one submission, e.g. ``R-7KQ2-M9XD-T4HB``."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(12))
    return f"R-{chars[:4]}-{chars[4:8]}-{chars[8:]}"


class Article(models.Model):
    slug = models.SlugField(max_length=200, unique=True)
    title = models.CharField(max_length=300)
    topic = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    is_listed = models.BooleanField(
        default=True, help_text="Unlisted articles have no public page but still take leads."
    )
    needs_review = models.BooleanField(
        default=False,
        help_text="Created automatically from a submission naming an unknown slug.",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Lead(models.Model):
    """A person who asked the clinic for help, across all their submissions."""

    class Stage(models.TextChoices):
        NEW = "new", "New"
        CONTACTING = "contacting", "Contacting"
        CONTACTED = "contacted", "Contacted"
        CONSULT_BOOKED = "consult_booked", "Consultation booked"
        CONSULT_ATTENDED = "consult_attended", "Consultation attended"
        ADMITTED = "admitted", "Admitted"
        CLOSED = "closed", "Closed"

    class Channel(models.TextChoices):
        CALL = "call", "Phone call"
        SMS = "sms", "Text message"
        EMAIL = "email", "Email"

    class BestTime(models.TextChoices):
        ANYTIME = "anytime", "Any time"
        MORNING = "morning", "Morning"
        AFTERNOON = "afternoon", "Afternoon"
        EVENING = "evening", "Evening"

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    phone = PhoneNumberField(blank=True, db_index=True)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.CALL
    )
    best_time = models.CharField(max_length=10, choices=BestTime.choices, default=BestTime.ANYTIME)
    timezone = models.CharField(max_length=64, blank=True)
    needs_review = models.BooleanField(
        default=False,
        help_text="A later submission matched this person's phone or email under another name.",
    )

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    created_at = models.DateTimeField(auto_now_add=True)
    contacting_at = models.DateTimeField(null=True, blank=True)
    contacted_at = models.DateTimeField(null=True, blank=True)
    consult_booked_at = models.DateTimeField(null=True, blank=True)
    consult_attended_at = models.DateTimeField(null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["stage", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(phone="") | ~Q(email=""), name="lead_has_phone_or_email"
            ),
            # A person has at most one open lead per phone and per email; later
            # submissions attach to it (see intake.services.lead_submit).
            models.UniqueConstraint(
                fields=["phone"],
                condition=~Q(phone="") & ~Q(stage="closed"),
                name="lead_open_unique_phone",
            ),
            models.UniqueConstraint(
                fields=["email"],
                condition=~Q(email="") & ~Q(stage="closed"),
                name="lead_open_unique_email",
            ),
        ]

    def __str__(self) -> str:
        return f"Lead {self.pk}"


class Submission(models.Model):
    """One answer to a call to action, as it arrived."""

    reference = models.CharField(max_length=20, unique=True, default=new_reference)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="submissions")
    article = models.ForeignKey(
        Article, on_delete=models.PROTECT, related_name="submissions", null=True, blank=True
    )
    first_name = models.CharField(max_length=100)
    interest = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    referrer = models.URLField(max_length=2000, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    is_spam = models.BooleanField(
        default=False, help_text="Honeypot filled in: kept for review, nothing is sent."
    )
    callback_window = models.JSONField(
        default=dict, blank=True, help_text="The callback window promised in the answer."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the callback and confirmations were queued. Empty: the sweep retries.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="submission_unprocessed",
                condition=Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class Consent(models.Model):
    """Append-only record of what a person agreed to, with the exact wording shown."""

    class Scope(models.TextChoices):
        SMS = "sms", "Text messages"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="consents")
    article = models.ForeignKey(Article, on_delete=models.PROTECT, null=True, blank=True)
    scope = models.CharField(max_length=20, choices=Scope.choices)
    granted = models.BooleanField()
    text_version = models.CharField(max_length=50)
    text_sha256 = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "scope"], name="consent_once_per_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} consent {'granted' if self.granted else 'refused'}"


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` header and the submission its first request made."""

    key = models.CharField(max_length=255, unique=True)
    request_sha256 = models.CharField(max_length=64)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.key
