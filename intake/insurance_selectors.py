"""Reads of a lead's insurance (``intake.models.insurance``), beside ``intake.selectors``
so that module stays one concern: the record with who changed it, the history of its
verification, what the person gave on a form, and the coordinators' "verifications
waiting" list. A caller that shows a member ID or group number records the read
(``intake.services.insurance_access_record``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery

from intake.models import (
    WAITING_STATUSES,
    InsuranceRecord,
    InsuranceVerification,
    Lead,
    Submission,
    payer_label,
)


def lead_insurance(*, lead_id: int) -> InsuranceRecord | None:
    """The lead's insurance record (ids decrypted), with who last changed it and its
    verification, or None when none was recorded."""
    return (
        InsuranceRecord.objects.select_related("verification_changed_by", "updated_by")
        .filter(lead_id=lead_id)
        .first()
    )


def insurance_verifications(*, record_id: int) -> list[InsuranceVerification]:
    """Every change of the record's verification status, newest first, with who made it."""
    return list(
        InsuranceVerification.objects.filter(record_id=record_id)
        .select_related("changed_by")
        .order_by("-changed_at", "-pk")
    )


@dataclass(frozen=True)
class InsuranceGiven:
    """The insurance one request gave on the form: unverified, typed by whoever sent it."""

    submission_id: int
    reference: str
    created_at: datetime
    payer: str
    payer_label: str
    member_id: str


def lead_insurance_given(*, lead_id: int) -> list[InsuranceGiven]:
    """What the lead's requests gave as insurance on the form, newest first (only those
    that gave a payer or a member ID). Anyone can fill in a form: none of it is the person's until a
    coordinator checks it with them."""
    submissions = (
        Submission.objects.filter(lead_id=lead_id)
        .exclude(insurance_payer="", insurance_member_id="")
        .only("reference", "created_at", "insurance_payer", "insurance_member_id")
        .order_by("-created_at", "-pk")
    )
    return [
        InsuranceGiven(
            submission_id=each.pk,
            reference=each.reference,
            created_at=each.created_at,
            payer=each.insurance_payer,
            payer_label=payer_label(each.insurance_payer),
            member_id=each.insurance_member_id,
        )
        for each in submissions
    ]


@dataclass(frozen=True)
class VerificationWaiting:
    """One lead whose benefits are still to be verified: no member ID or group number."""

    lead: Lead  # for the audit trail's list read (its first name is shown)
    lead_id: int
    reference: str
    first_name: str
    payer: str
    payer_label: str
    plan_type: str
    status: str
    status_label: str
    waiting_since: datetime


def insurance_verifications_waiting(*, limit: int = 200) -> list[VerificationWaiting]:
    """The open leads whose verification is ``not_started`` or ``requested``, the longest
    waiting first (since their status last changed), with each lead's latest request
    reference and first name. The ids are neither loaded nor decrypted."""
    latest_reference = Subquery(
        Submission.objects.filter(lead_id=OuterRef("lead_id"))
        .order_by("-created_at", "-pk")
        .values("reference")[:1]
    )
    rows = (
        InsuranceRecord.objects.filter(
            verification_status__in=WAITING_STATUSES, lead__anonymised_at__isnull=True
        )
        # A closed lead's benefits need no check (reopened, it is listed again).
        .exclude(lead__stage=Lead.Stage.CLOSED)
        .annotate(reference=latest_reference)
        .select_related("lead")
        .only(
            "lead_id",
            "payer",
            "plan_type",
            "verification_status",
            "verification_changed_at",
            "lead__first_name",
        )
        .order_by("verification_changed_at", "pk")[:limit]
    )
    return [
        VerificationWaiting(
            lead=row.lead,
            lead_id=row.lead_id,
            reference=row.reference or "",
            first_name=row.lead.first_name,
            payer=row.payer,
            payer_label=row.payer_label,
            plan_type=row.plan_type,
            status=row.verification_status,
            status_label=row.get_verification_status_display(),
            waiting_since=row.verification_changed_at,
        )
        for row in rows
    ]
