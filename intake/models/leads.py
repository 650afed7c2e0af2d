"""Articles, the people who answer their calls to action, their submissions, and the
Idempotency-Keys that let a submission be retried."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from phonenumber_field.modelfields import PhoneNumberField

from clinic.audit.events import audited
from clinic.crypto import EncryptedTextField

# The audit trail's event for a read of a lead's personal data (clinic.audit.events).
LEAD_READ = "lead.read"

# No 0/O, 1/I/L: references are read out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference() -> str:
    """A public, unguessable name for one submission, e.g. ``R-7KQ2-M9XD-T4HB``."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(12))
    return f"R-{chars[:4]}-{chars[4:8]}-{chars[8:]}"


@audited(skip=["body"])
class Article(models.Model):
    slug = models.SlugField(max_length=200, unique=True)
    title = models.CharField(max_length=300)
    topic = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    tracking_number = PhoneNumberField(
        blank=True,
        help_text="A phone number printed on this article only: calls to it count for it.",
    )
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
        constraints = [
            models.UniqueConstraint(
                fields=["tracking_number"],
                condition=~Q(tracking_number=""),
                name="article_tracking_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class PhoneType(models.TextChoices):
    """``phonenumbers.PhoneNumberType``, by name."""

    FIXED_LINE = "fixed_line", "Fixed line"
    MOBILE = "mobile", "Mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile", "Fixed line or mobile"
    TOLL_FREE = "toll_free", "Toll free"
    PREMIUM_RATE = "premium_rate", "Premium rate"
    SHARED_COST = "shared_cost", "Shared cost"
    VOIP = "voip", "VoIP"
    PERSONAL_NUMBER = "personal_number", "Personal number"
    PAGER = "pager", "Pager"
    UAN = "uan", "Universal access number"
    VOICEMAIL = "voicemail", "Voicemail"
    UNKNOWN = "unknown", "Unknown"


@audited(
    personal=[
        "first_name",
        "last_name",
        "phone",
        "email",
        "phone_hash",
        "email_hash",
        "timezone",
        "closed_reason",
    ],
    reads=[LEAD_READ],
)
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

    class ConversationVia(models.TextChoices):
        CALL = "call", "a bridged call answered by the person"
        TEXT = "text", "a two-way text exchange"
        HAND_LOGGED = "hand_logged", "an attempt logged as reached"

    class Verification(models.TextChoices):
        """How a detail was proven to be the person's (a form proves nothing)."""

        COORDINATOR = "coordinator", "confirmed with the person by a coordinator"
        CALL = "call", "the person answered a call to it"
        SMS_REPLY = "sms_reply", "the person texted from it"

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    # Plain while the lead is live (coordinators call them); people are found and
    # deduplicated by the keyed hashes (clinic.crypto), which anonymisation clears too.
    phone = PhoneNumberField(blank=True)
    email = models.EmailField(max_length=254, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    email_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.CALL
    )
    best_time = models.CharField(max_length=10, choices=BestTime.choices, default=BestTime.ANYTIME)
    timezone = models.CharField(max_length=64, blank=True)
    phone_type = models.CharField(
        max_length=30,
        choices=PhoneType.choices,
        blank=True,
        help_text="What kind of line the phone is: a fixed line gets a call, never an SMS.",
    )
    # Discreet contact (latest submission wins). Scheduling and notifications honour them:
    # no voicemail unless voicemail_ok; no clinic name in messages or voicemail unless
    # mention_clinic_ok.
    voicemail_ok = models.BooleanField(default=False)
    mention_clinic_ok = models.BooleanField(default=True)
    needs_review = models.BooleanField(
        default=False,
        help_text="A later submission matched this person's phone or email under another name.",
    )
    # Whether the phone, email and first name are the person's: every detail comes from
    # an anonymous form, so none is until the person proves it (answering a call to the
    # number, texting from it) or a coordinator confirms it with them. Care (appointment
    # messages and links) goes only to verified details; a name greets the person only
    # once confirmed (intake.services.verification).
    # db_default: raw INSERTs and older code that name no such column keep working.
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    phone_verified_by = models.CharField(
        max_length=20, choices=Verification.choices, blank=True, default="", db_default=""
    )
    email_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="Only a coordinator confirms an email address."
    )
    email_verified_by = models.CharField(
        max_length=20, choices=Verification.choices, blank=True, default="", db_default=""
    )
    name_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="A coordinator confirmed the first name with the person."
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
    # Admissions steps beside the life stage (intake.services.stages): each stamped the
    # first time it is reached and never moved, whatever the stage. They are not stages
    # of their own because they do not follow one another: a person may be booked
    # without a screening, or waitlisted before their insurance is verified.
    screened_at = models.DateTimeField(
        null=True, blank=True, help_text="First pre-admission screening recorded."
    )
    insurance_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="Benefits first verified (in or out of network)."
    )
    waitlisted_at = models.DateTimeField(
        null=True, blank=True, help_text="First put on the waitlist."
    )
    anonymised_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Personal data erased (on request, or at the end of the retention period).",
    )
    anonymised_reason = models.CharField(
        max_length=200,
        blank=True,
        help_text="Why: the retention period, or the erasure request (a ticket number, "
        "never the person's details).",
    )
    # Speed to lead, measured to a conversation (intake.services.conversations): the
    # first outreach of any kind, and the first real conversation (a call answered by a
    # person for 30 s or more, an attempt logged as reached, or a two-way text exchange
    # with someone who chose texts). The first wins; no personal data.
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    first_conversation_at = models.DateTimeField(null=True, blank=True, db_index=True)
    first_conversation_via = models.CharField(
        max_length=20, choices=ConversationVia.choices, blank=True, default="", db_default=""
    )
    first_conversation_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The member of staff who had the first conversation.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["stage", "created_at"]),
            # The retention sweep: closed, not yet anonymised, by closing time.
            models.Index(
                fields=["closed_at"],
                name="lead_retention_due",
                condition=Q(stage="closed", anonymised_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(phone="") | ~Q(email="") | Q(anonymised_at__isnull=False),
                name="lead_has_phone_or_email",
            ),
            # A person has at most one open lead per phone and per email; later
            # submissions attach to it (see intake.services.lead_submit).
            models.UniqueConstraint(
                fields=["phone_hash"],
                condition=~Q(phone_hash="") & ~Q(stage="closed"),
                name="lead_open_unique_phone",
            ),
            models.UniqueConstraint(
                fields=["email_hash"],
                condition=~Q(email_hash="") & ~Q(stage="closed"),
                name="lead_open_unique_email",
            ),
        ]

    def __str__(self) -> str:
        return f"Lead {self.pk}"


@audited(
    personal=[
        "first_name",
        "last_name",
        "phone",
        "email",
        "phone_hash",
        "email_hash",
        "interest",
        "message",
        "page_url",
        "referrer",
        "ip_address",
        "user_agent",
        "timezone",
        "insurance_payer",
        "insurance_member_id",
    ]
)
class Submission(models.Model):
    """One answer to a call to action, as it arrived.

    The public POST stores only this row (and its Idempotency-Key): everything the
    worker needs to match the person, record the consent and route the request is
    on it. ``lead`` is empty until the worker has attached it (``processed_at``)."""

    class Source(models.TextChoices):
        WEB = "web", "Web form"
        PHONE = "phone", "Phone call"

    reference = models.CharField(max_length=20, unique=True, default=new_reference)
    lead = models.ForeignKey(
        Lead,
        on_delete=models.CASCADE,
        related_name="submissions",
        null=True,
        blank=True,
        help_text="The person's lead, attached by the worker (empty until then).",
    )
    article = models.ForeignKey(
        Article, on_delete=models.PROTECT, related_name="submissions", null=True, blank=True
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    # As given in this submission: a later one may bring a new number or address that
    # the lead (which keeps the first) does not take over.
    phone = PhoneNumberField(blank=True)
    email = models.EmailField(max_length=254, blank=True)
    # Keyed lookup hashes, computed once in the request; the worker matches on them.
    phone_hash = models.CharField(max_length=64, blank=True, editable=False)
    email_hash = models.CharField(max_length=64, blank=True, editable=False)
    # What this request asked for; a new lead takes it, a known one keeps its own until
    # a coordinator confirms the change with the person.
    preferred_channel = models.CharField(
        max_length=10, choices=Lead.Channel.choices, default=Lead.Channel.CALL
    )
    best_time = models.CharField(
        max_length=10, choices=Lead.BestTime.choices, default=Lead.BestTime.ANYTIME
    )
    timezone = models.CharField(max_length=64, blank=True)
    interest = models.CharField(max_length=100, blank=True)
    message = EncryptedTextField(blank=True)
    # Insurance the person may give under "More options" (intake.models.insurance):
    # encrypted, shown to the coordinator as given on the form, not verified; never
    # copied onto the lead's insurance record except by a coordinator.
    insurance_payer = EncryptedTextField(blank=True)
    insurance_member_id = EncryptedTextField(blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    referrer = models.URLField(max_length=2000, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    first_touch = models.JSONField(
        default=dict,
        blank=True,
        help_text="The first campaign touch the embed remembered: utm_* and when (at).",
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)
    is_spam = models.BooleanField(
        default=False, help_text="Honeypot filled in: kept for review, nothing is sent."
    )
    in_crisis = models.BooleanField(
        default=False, help_text="The person ticked the form's crisis box."
    )
    crisis_language = models.BooleanField(
        default=False, help_text="The message contains crisis language (intake.crisis)."
    )
    voicemail_ok = models.BooleanField(default=False)
    mention_clinic_ok = models.BooleanField(default=True)
    # The consent evidence, stored with the request itself; the worker copies it into
    # the append-only ledger (Consent) when it attaches the lead.
    sms_consent = models.BooleanField(default=False)
    consent_text_version = models.CharField(max_length=50, blank=True)
    consent_text_sha256 = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    # Past the per-phone or the per-address limit: stored and routed, but that channel
    # gets no confirmation. Each channel is limited on its own, so a prober's own
    # address gets its email whatever a known phone's traffic (the answer is the same).
    phone_limited = models.BooleanField(
        default=False, help_text="Past the per-phone limit: no confirmation text."
    )
    email_limited = models.BooleanField(
        default=False, help_text="Past the per-address limit: no confirmation email."
    )
    cancelled_at = models.DateTimeField(
        null=True, blank=True, help_text="The person cancelled this request from its link."
    )
    links_revoked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Links to this request issued before this time no longer open.",
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
    # Claimed by whoever sends the confirmations first (the confirmation task, or
    # routing when that task was lost), in the transaction that records them.
    confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the confirmations were decided and recorded (at most once).",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="submission_unprocessed",
                condition=Q(processed_at__isnull=True),
            ),
            # A confirmation sent before routing reads the "no" to texts of requests
            # for the same number not yet in the consent ledger (intake.selectors).
            models.Index(
                fields=["phone_hash"],
                name="submission_unprocessed_phone",
                condition=Q(processed_at__isnull=True) & ~Q(phone_hash=""),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_crisis(self) -> bool:
        """Crisis resources were shown and the callback is urgent."""
        return self.in_crisis or self.crisis_language


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` header and the submission its first request made."""

    key = models.CharField(max_length=255, unique=True)
    request_sha256 = models.CharField(max_length=64)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.key
