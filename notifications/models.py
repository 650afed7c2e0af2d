"""Messages to people (SMS and email) and the numbers that asked us to stop."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.audit.events import audited
from clinic.crypto import EncryptedTextField

# The audit trail's event for a read of a message (clinic.audit.events).
MESSAGE_READ = "message.read"
# ... and of an SMS conversation (the inbox's thread: its number and texts).
CONVERSATION_READ = "conversation.read"


@audited(
    personal=[
        "recipient",
        "recipient_hash",
        "subject",
        "body",
        "body_html",
        "attachment",
        "error_message",
    ],
    reads=[MESSAGE_READ],
)
class Message(models.Model):
    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"

    class Purpose(models.TextChoices):
        CONFIRMATION = "confirmation", "Confirmation"
        REMINDER = "reminder", "Reminder"
        FOLLOW_UP = "follow_up", "Follow-up"
        REPLY = "reply", "Reply"
        STAFF_ALERT = "staff_alert", "Staff alert"
        # The code a member of staff types back to confirm their own phone.
        STAFF_CODE = "staff_code", "Staff phone code"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    template = models.CharField(max_length=100, blank=True)
    template_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: the default wording shipped in code."
    )
    recipient = models.CharField(max_length=254, help_text="E.164 phone or email address.")
    # The keyed hash of the recipient's number or mailbox (clinic.crypto): rules that
    # count messages per person ("one confirmation a day") count every spelling of one
    # mailbox as one.
    recipient_hash = models.CharField(max_length=64, blank=True, editable=False)
    subject = models.CharField(max_length=200, blank=True)
    # Bodies carry first names and booking details: encrypted at rest.
    body = EncryptedTextField()
    body_html = EncryptedTextField(blank=True)
    # One text attachment (a calendar invitation), sent with the email.
    attachment_name = models.CharField(max_length=100, blank=True)
    attachment = EncryptedTextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    send_after = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True, db_index=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # After a transient failure: not tried again before this (backoff, or the
    # provider's Retry-After); the outbox sweep hands the message over once it passes.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The end of the message's retry budget: a try that cannot happen by then does
    # not happen, and the message is failed.
    give_up_at = models.DateTimeField(null=True, blank=True)
    # The zone the person declared, so that a retried follow-up keeps to their quiet hours.
    recipient_time_zone = models.CharField(max_length=64, blank=True)
    # Which record of another app this message is about ("lead:42"); notifications
    # never looks inside it, the apps above use it to find their messages.
    correlation = models.CharField(max_length=100, blank=True, db_index=True)
    # "confirmation:sms:submission:17": at most one message per key, ever.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # The member of staff whose own words these are (a reply from the console).
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["status", "created_at"],
                name="message_unfinished",
                condition=Q(status__in=["pending", "scheduled", "sending"]),
            ),
            models.Index(fields=["recipient_hash", "created_at"], name="message_recipient_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.purpose} #{self.pk} ({self.status})"


@audited(personal=["phone", "phone_hash"])
class OptOut(models.Model):
    """A phone number no SMS may go to: the person replied STOP, the carrier says
    they did, or the number cannot take texts (a landline, an invalid number)."""

    class Reason(models.TextChoices):
        OPTED_OUT = "opted_out", "Replied STOP"
        CARRIER = "carrier", "Carrier reports an opt-out (21610)"
        UNUSABLE = "unusable", "Number cannot receive SMS"

    # The keyed hash (clinic.crypto.phone_hash) is what is honoured, forever; the plain
    # number is dropped when the person's lead is anonymised or erased.
    phone = models.CharField(max_length=20, blank=True)
    phone_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.OPTED_OUT)
    source = models.CharField(max_length=50, help_text="How it reached us.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Opt-out #{self.pk}"


@audited(personal=["value_hash", "lift_note"])
class Refusal(models.Model):
    """A person asked the clinic not to contact them: no automated text, email or call
    goes to this phone or email, whatever a later form says, until the person lifts it
    on a channel they control (START from the phone, or telling a coordinator).

    It belongs to the address (its keyed hash, ``clinic.crypto``), not to a lead: it
    outlives the lead's closing, anonymisation and erasure, and holds no plain value."""

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone"
        EMAIL = "email", "Email"

    class LiftSource(models.TextChoices):
        START = "start", "The person texted START from the phone"
        COORDINATOR = "coordinator", "The person asked a coordinator to be contacted again"
        WITHDRAWN = "withdrawn", "Taken back within minutes by the coordinator who recorded it"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    value_hash = models.CharField(max_length=64, db_index=True)
    source = models.CharField(max_length=50, help_text="How it reached us (a call outcome).")
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    lift_source = models.CharField(max_length=20, choices=LiftSource.choices, blank=True)
    # What the person said when they asked again, in the coordinator's words.
    lift_note = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "value_hash"],
                condition=Q(lifted_at__isnull=True),
                name="refusal_one_live_per_address",
            ),
        ]

    def __str__(self) -> str:
        return f"Refusal #{self.pk} ({self.channel}{', lifted' if self.lifted_at else ''})"


@audited(personal=["phone_hash"])
class SmsConsentState(models.Model):
    """What a phone number itself said about texts, by its keyed hash (kept forever,
    like an opt-out). A form's "yes" counts only while the number never said stop
    (``restricted_at``); after that only the phone's own yes (``proven_at``: START, or
    YES to the coordinator's one invitation, ``invited_at``) allows texts again."""

    class Proof(models.TextChoices):
        START = "start", "Texted START"
        YES = "yes", "Answered YES to the invitation"

    phone_hash = models.CharField(max_length=64, unique=True)
    restricted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The last stop: STOP, a carrier or link opt-out, a refusal.",
    )
    proven_at = models.DateTimeField(
        null=True, blank=True, help_text="The last yes from the phone itself."
    )
    proof = models.CharField(max_length=10, choices=Proof.choices, blank=True)
    invited_at = models.DateTimeField(
        null=True, blank=True, help_text='When the one "reply YES to get texts" went.'
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    def __str__(self) -> str:
        return f"SMS consent state #{self.pk}"


@audited(personal=["sender", "sender_hash", "body"], reads=[MESSAGE_READ])
class InboundMessage(models.Model):
    """An SMS a person sent us, and what we made of it."""

    class Kind(models.TextChoices):
        OPT_OUT = "opt_out", "Opt-out keyword"
        OPT_IN = "opt_in", "Opt-in keyword"
        HELP = "help", "Help keyword"
        OPT_OUT_REQUEST = "opt_out_request", "Asked to stop, in their own words"
        REPLY = "reply", "Reply"

    provider_id = models.CharField(max_length=64, unique=True)
    sender = models.CharField(max_length=20, blank=True)
    sender_hash = models.CharField(max_length=64, blank=True, db_index=True)
    body = EncryptedTextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Inbound {self.kind} #{self.pk}"


@audited()
class MessageTemplate(models.Model):
    """An edited wording of a message. The newest active version of a name and
    channel wins over the default shipped in code; older versions stay for the record."""

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"

    name = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    version = models.PositiveIntegerField(editable=False)
    subject = models.CharField(max_length=200, blank=True, help_text="Email only.")
    body = models.TextField(help_text="Django template syntax; text part for email.")
    body_html = models.TextField(blank=True, help_text="Email only.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "channel", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "channel", "version"], name="message_template_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel}) v{self.version}"


@audited(personal=["caller"])
class InboundCall(models.Model):
    """A phone call to one of the clinic's numbers (an article's tracking number),
    forwarded to the clinic line."""

    class Forward(models.TextChoices):
        PENDING = "pending", "Ringing the clinic"
        ANSWERED = "answered", "Answered"
        MISSED = "missed", "Not answered (no answer, busy or failed)"

    provider_id = models.CharField(max_length=64, unique=True)
    caller = models.CharField(max_length=20, blank=True, help_text="Empty when withheld.")
    called = models.CharField(max_length=20, db_index=True)
    forward = models.CharField(max_length=10, choices=Forward.choices, default=Forward.PENDING)
    received_at = models.DateTimeField(auto_now_add=True)
    forward_ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Call #{self.pk} ({self.forward})"


@audited(
    personal=["phone", "phone_hash"],
    # Bookkeeping moved by every text: the texts themselves are on the trail.
    skip=["last_message_at", "last_inbound_at", "last_outbound_at", "unread_count", "last_read_at"],
    reads=[CONVERSATION_READ],
)
class SmsConversation(models.Model):
    """The two-way SMS thread with one phone number (by its keyed hash, like an
    opt-out): every text we sent it and every text it sent us, for the inbox.

    ``lead_id`` names the lead the apps above linked the number to (notifications never
    looks inside it); unread counts the person's texts since a coordinator last opened
    the thread."""

    phone = models.CharField(max_length=20, blank=True)
    phone_hash = models.CharField(max_length=64, unique=True)
    lead_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The person wrote something a crisis rule recognised (set by the apps above).
    is_urgent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_message_at"]
        indexes = [
            models.Index(fields=["-last_message_at"], name="conversation_recent"),
            models.Index(
                fields=["unread_count"],
                name="conversation_unread",
                condition=Q(unread_count__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"SMS conversation #{self.pk}"
