"""A lead's insurance and the verification of their benefits (issue 25, item 2).

One ``InsuranceRecord`` per lead, written only by a coordinator (page or API): the payer
(``INSURANCE_PAYERS`` or self-pay), the plan type, the member ID and group number
(encrypted at rest, never stored on the audit trail, every read recorded there as
``insurance.read``), and who the subscriber is to the person. Its verification status
moves through ``intake.services.insurance.insurance_verification_set`` alone, and each
change leaves an ``InsuranceVerification`` row saying who set what, and when, for the
coordinators.

What the person typed on the call to action (payer and member ID, optional) stays on
their ``Submission``, encrypted: anyone can fill in a form, so it is shown to the
coordinator as "given on the form, not verified" and never written onto a record by
itself.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clinic.audit.events import audited
from clinic.crypto import EncryptedTextField

# The audit trail's event for a read of a member ID or group number (clinic.audit.events).
INSURANCE_READ = "insurance.read"

# The payer value of a person who pays for their own care (always offered, not configured).
SELF_PAY = "self_pay"

# What erasure leaves of an insurance record: its status and times, no identifier.
INSURANCE_BLANK = {"payer": "", "plan_type": "", "member_id": "", "group_number": ""}


class PlanType(models.TextChoices):
    HMO = "hmo", "HMO"
    PPO = "ppo", "PPO"
    EPO = "epo", "EPO"
    POS = "pos", "POS"
    MEDICARE = "medicare", "Medicare"
    MEDICAID = "medicaid", "Medicaid"
    TRICARE = "tricare", "TRICARE"
    OTHER = "other", "Other"


class SubscriberRelationship(models.TextChoices):
    """Who holds the policy, to the person: they are the member, or on another's plan."""

    SELF = "self", "The person"
    SPOUSE = "spouse", "Spouse or partner"
    PARENT = "parent", "Parent"
    OTHER = "other", "Someone else"


class VerificationStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    REQUESTED = "requested", "Requested"
    VERIFIED_IN_NETWORK = "verified_in_network", "Verified, in network"
    VERIFIED_OUT_OF_NETWORK = "verified_out_of_network", "Verified, out of network"
    NOT_COVERED = "not_covered", "Not covered"
    SELF_PAY = "self_pay", "Self-pay"


# Still to be verified: the coordinators' "verifications waiting" list.
WAITING_STATUSES = (VerificationStatus.NOT_STARTED, VerificationStatus.REQUESTED)


@audited(
    # The payer and plan type say something about the person too: named when they
    # change, never copied onto the trail.
    personal=["payer", "plan_type", "member_id", "group_number"],
    reads=[INSURANCE_READ],
)
class InsuranceRecord(models.Model):
    """The lead's insurance as a coordinator recorded it, and where its verification
    of benefits stands."""

    lead = models.OneToOneField("intake.Lead", on_delete=models.CASCADE, related_name="insurance")
    payer = models.CharField(
        max_length=100, blank=True, help_text="A value of INSURANCE_PAYERS, or self_pay."
    )
    plan_type = models.CharField(max_length=20, choices=PlanType.choices, blank=True)
    member_id = EncryptedTextField(blank=True)
    group_number = EncryptedTextField(blank=True)
    subscriber_relationship = models.CharField(
        max_length=20,
        choices=SubscriberRelationship.choices,
        default=SubscriberRelationship.SELF,
    )
    verification_status = models.CharField(
        max_length=30, choices=VerificationStatus.choices, default=VerificationStatus.NOT_STARTED
    )
    verification_changed_at = models.DateTimeField(
        help_text="When the status last changed (set with the record when it was made)."
    )
    verification_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        indexes = [
            # The "verifications waiting" list: oldest first, still to be verified.
            models.Index(
                fields=["verification_changed_at", "id"],
                name="insurance_waiting",
                condition=models.Q(verification_status__in=["not_started", "requested"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(verification_status__in=VerificationStatus.values),
                name="insurance_status_known",
            ),
        ]

    def __str__(self) -> str:
        # No payer or identifier: the admin's list and logs show this.
        return f"Insurance {self.pk}"

    @property
    def payer_label(self) -> str:
        return payer_label(self.payer)

    @property
    def is_self_pay(self) -> bool:
        return self.payer == SELF_PAY


class InsuranceVerification(models.Model):
    """One change of a record's verification status: who set it, when (append-only)."""

    record = models.ForeignKey(
        InsuranceRecord, on_delete=models.CASCADE, related_name="verifications"
    )
    status = models.CharField(max_length=30, choices=VerificationStatus.choices)
    previous_status = models.CharField(max_length=30, choices=VerificationStatus.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["record", "changed_at"], name="insurance_verif_time")]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.changed_at:%Y-%m-%d %H:%M}"


def payer_choices() -> list[tuple[str, str]]:
    """The payers one may name, as configured now (``INSURANCE_PAYERS``), then self-pay."""
    return [
        *((str(v), str(label)) for v, label in settings.INSURANCE_PAYERS.items()),
        (SELF_PAY, "Self-pay"),
    ]


def payer_label(value: str) -> str:
    """How a payer reads on a page ("" for none; the value itself if no longer configured)."""
    if not value:
        return ""
    return dict(payer_choices()).get(value, value)
