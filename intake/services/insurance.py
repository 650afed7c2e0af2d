"""A lead's insurance: checked once (:func:`insurance_check`), then stored
(:func:`insurance_record_save`); the verification of benefits moved through one function
(:func:`insurance_verification_set`); what the person gave on a form copied over by a
coordinator (:func:`insurance_from_submission`); reads on the audit trail
(:func:`insurance_access_record`); erasure (:func:`insurance_erase`).

Member IDs and group numbers are identifiers of a person's health cover: they never go
into an exception's message, a log line, a message to anyone or a report. Errors name
the field, never its value. Only the verification's status and time may leave intake,
as the funnel's stage (wired to :func:`insurance_verification_set`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.audit import events
from clinic.errors import ApplicationError
from intake.models import (
    INSURANCE_BLANK,
    INSURANCE_READ,
    SELF_PAY,
    InsuranceRecord,
    InsuranceVerification,
    Lead,
    PlanType,
    Submission,
    SubscriberRelationship,
    VerificationStatus,
    payer_choices,
)
from intake.services.stages import INSURANCE_VERIFIED, lead_stage_reach

# Member IDs and group numbers as payers print them: letters, digits and hyphens
# (Medicare's MBI is written 1EG4-TE5-MK73); spaces copied from a card are dropped.
MEMBER_ID_MAX = 30
GROUP_NUMBER_MAX = 30
_IDENTIFIER = re.compile(r"[A-Z0-9](?:[A-Z0-9-]*[A-Z0-9])?")
_MEMBER_ID_RULE = (
    f"Letters, digits and hyphens only, 2 to {MEMBER_ID_MAX} characters, as on the card."
)
_GROUP_NUMBER_RULE = f"Letters, digits and hyphens only, at most {GROUP_NUMBER_MAX} characters."
# The statuses after which the person's cost of care is known: the funnel's
# "insurance verified" step (self-pay included: nothing is left to verify).
_VERIFIED = frozenset(
    {
        VerificationStatus.VERIFIED_IN_NETWORK,
        VerificationStatus.VERIFIED_OUT_OF_NETWORK,
        VerificationStatus.SELF_PAY,
    }
)
# Verified statuses say what the payer answered: a self-pay record has no payer to ask.
_NEEDS_PAYER = frozenset(
    {
        VerificationStatus.REQUESTED,
        VerificationStatus.VERIFIED_IN_NETWORK,
        VerificationStatus.VERIFIED_OUT_OF_NETWORK,
        VerificationStatus.NOT_COVERED,
    }
)


@dataclass(frozen=True)
class InsuranceRequest:
    """A lead's insurance, checked: ready to store."""

    payer: str
    plan_type: str
    member_id: str
    group_number: str
    subscriber_relationship: str


def identifier_clean(value: Any, *, longest: int, shortest: int = 1) -> str | None:
    """A member ID or group number as stored (upper case, spaces dropped), "" for none,
    or None when it holds a character no payer uses or has the wrong length."""
    if not isinstance(value, str):
        return None
    cleaned = "".join(value.split()).upper()
    if not cleaned:
        return ""
    if not shortest <= len(cleaned) <= longest or not _IDENTIFIER.fullmatch(cleaned):
        return None
    return cleaned


def member_id_clean(value: Any) -> str | None:
    """:func:`identifier_clean` with a member ID's rules (the public form's too)."""
    return identifier_clean(value, longest=MEMBER_ID_MAX, shortest=2)


def member_id_rule() -> str:
    return _MEMBER_ID_RULE


def payer_rule() -> str:
    return f"Choose one of: {', '.join(value for value, _label in payer_choices())}."


def insurance_check(
    *,
    payer: Any,
    plan_type: Any = "",
    member_id: Any = "",
    group_number: Any = "",
    subscriber_relationship: Any = SubscriberRelationship.SELF,
) -> InsuranceRequest:
    """Check a lead's insurance as it came (JSON or a form): ``payer`` one of
    ``INSURANCE_PAYERS`` or ``self_pay``; ``plan_type`` and ``subscriber_relationship``
    from their lists (or empty: the person did not know); ``member_id`` and
    ``group_number`` letters, digits and hyphens (spaces dropped), and empty for
    self-pay. Raises ``ApplicationError`` (400) with every field's error, by field."""
    errors: dict[str, list[str]] = {}
    payers = {value for value, _label in payer_choices()}
    if not isinstance(payer, str) or payer not in payers:
        errors["payer"] = [payer_rule()]
    if not isinstance(plan_type, str) or (plan_type and plan_type not in PlanType.values):
        errors["plan_type"] = [f"Choose one of: {', '.join(PlanType.values)}."]
    relationship = subscriber_relationship or SubscriberRelationship.SELF
    if not isinstance(relationship, str) or relationship not in SubscriberRelationship.values:
        errors["subscriber_relationship"] = [
            f"Choose one of: {', '.join(SubscriberRelationship.values)}."
        ]
    member = member_id_clean(member_id)
    if member is None:
        errors["member_id"] = [_MEMBER_ID_RULE]
    group = identifier_clean(group_number, longest=GROUP_NUMBER_MAX)
    if group is None:
        errors["group_number"] = [_GROUP_NUMBER_RULE]
    if payer == SELF_PAY:
        if member:
            errors.setdefault("member_id", ["A self-pay person has no member ID: leave it empty."])
        if group:
            errors.setdefault(
                "group_number", ["A self-pay person has no group number: leave it empty."]
            )
    if errors:
        raise ApplicationError("The insurance was not recorded.", fields=errors)
    return InsuranceRequest(
        payer=payer,
        plan_type="" if payer == SELF_PAY else plan_type,
        member_id=member or "",
        group_number=group or "",
        subscriber_relationship=relationship,
    )


def insurance_record_save(
    *, lead_id: int, request: InsuranceRequest, user_id: int | None
) -> tuple[InsuranceRecord, bool]:
    """Store the lead's insurance (a new record, or the one it has, replaced whole) in
    one transaction. A new record waits for verification (``not_started``). The status
    follows what changed, through :func:`insurance_verification_set`: a self-pay record
    is ``self_pay`` (no self-pay person waits on the verifications list), and another
    payer or member ID than the one verified starts again at ``not_started`` (a check
    of one policy says nothing of another). Returns the record and whether it was
    made now."""
    now = timezone.now()
    with transaction.atomic():
        before = (
            InsuranceRecord.objects.select_for_update()
            .filter(lead_id=lead_id)
            .values_list("payer", "member_id")
            .first()
        )
        record, created = InsuranceRecord.objects.select_for_update().get_or_create(
            lead_id=lead_id,
            defaults={
                "verification_changed_at": now,
                "verification_changed_by_id": user_id,
                "updated_by_id": user_id,
                "payer": request.payer,
            },
        )
        record.payer = request.payer
        record.plan_type = request.plan_type
        record.member_id = request.member_id
        record.group_number = request.group_number
        record.subscriber_relationship = request.subscriber_relationship
        record.updated_by_id = user_id
        record.save()
        if created:
            InsuranceVerification.objects.create(
                record=record,
                status=record.verification_status,
                previous_status=record.verification_status,
                changed_by_id=user_id,
                changed_at=now,
            )
        status = _status_after_change(
            record, changed=before is not None and before != (record.payer, record.member_id)
        )
        if status != record.verification_status:
            record = insurance_verification_set(lead_id=lead_id, status=status, user_id=user_id)
    return record, created


def _status_after_change(record: InsuranceRecord, *, changed: bool) -> str:
    """Where a record's verification stands once its payer or member ID may have
    changed (``changed``): see :func:`insurance_record_save`."""
    if record.is_self_pay:
        return VerificationStatus.SELF_PAY
    if record.verification_status == VerificationStatus.SELF_PAY or (
        changed and record.verification_status != VerificationStatus.NOT_STARTED
    ):
        return VerificationStatus.NOT_STARTED
    return record.verification_status


def insurance_verification_set(
    *, lead_id: int, status: Any, user_id: int | None
) -> InsuranceRecord:
    """Set where the verification of the lead's benefits stands, as ``user_id`` found it,
    and keep who and when (the record, and an ``InsuranceVerification`` row). The one
    place a status changes: a stage that follows verification ("insurance verified",
    for ``verified_in_network``, ``verified_out_of_network`` and ``self_pay``) hangs
    here. Setting the status it already has changes nothing and records nothing.

    Raises ``ApplicationError``: 400 (``status``) for an unknown status, or one that
    needs a payer on a self-pay record; 409 ``no_insurance`` when the lead has no
    insurance recorded yet."""
    if not isinstance(status, str) or status not in VerificationStatus.values:
        raise ApplicationError(
            "The verification was not recorded.",
            fields={"status": [f"Choose one of: {', '.join(VerificationStatus.values)}."]},
        )
    reaches_stage = status in _VERIFIED
    with transaction.atomic():
        if reaches_stage:
            # The lead first, then its record: the order erasure and the stage take.
            Lead.objects.select_for_update().filter(pk=lead_id).only("pk").first()
        record = InsuranceRecord.objects.select_for_update().filter(lead_id=lead_id).first()
        if record is None:
            raise ApplicationError(
                "Record the person's insurance (or self-pay) before its verification.",
                code="no_insurance",
                status_code=409,
            )
        if record.is_self_pay and status in _NEEDS_PAYER:
            raise ApplicationError(
                "The verification was not recorded.",
                fields={"status": ["A self-pay person has no benefits to verify: choose a payer."]},
            )
        if record.verification_status == status:
            return record
        now = timezone.now()
        previous = record.verification_status
        record.verification_status = status
        record.verification_changed_at = now
        record.verification_changed_by_id = user_id
        record.save(
            update_fields=[
                "verification_status",
                "verification_changed_at",
                "verification_changed_by",
                "updated_at",
            ]
        )
        InsuranceVerification.objects.create(
            record=record,
            status=status,
            previous_status=previous,
            changed_by_id=user_id,
            changed_at=now,
        )
        if reaches_stage:
            lead_stage_reach(lead_id=lead_id, stage=INSURANCE_VERIFIED, at=now)
    return record


def insurance_from_submission(
    *, lead_id: int, submission_id: int, user_id: int | None
) -> tuple[InsuranceRecord, bool]:
    """A coordinator, having checked them with the person, takes the payer and member
    ID the person gave on one of the lead's own requests: the record takes them (its
    plan type, group number and relationship kept). Raises ``ApplicationError`` (404
    ``not_found``) for a request that is not the lead's or gave no insurance, and the
    checks of :func:`insurance_check` (the configured payers may have changed since)."""
    submission = (
        Submission.objects.filter(pk=submission_id, lead_id=lead_id)
        .only("insurance_payer", "insurance_member_id")
        .first()
    )
    if submission is None or not submission.insurance_payer:
        raise ApplicationError("That request gave no insurance.", code="not_found", status_code=404)
    current = InsuranceRecord.objects.filter(lead_id=lead_id).first()
    request = insurance_check(
        payer=submission.insurance_payer,
        plan_type=current.plan_type if current else "",
        # A self-pay person has no member ID, whatever the form said beside it.
        member_id="" if submission.insurance_payer == SELF_PAY else submission.insurance_member_id,
        group_number=current.group_number if current else "",
        subscriber_relationship=current.subscriber_relationship
        if current
        else SubscriberRelationship.SELF,
    )
    return insurance_record_save(lead_id=lead_id, request=request, user_id=user_id)


def insurance_access_record(*, records: Sequence[InsuranceRecord], what: str, **detail: Any) -> int:
    """Record that the current user (``clinic.audit.events`` context) was shown these
    records' member IDs and group numbers by ``what``: one event each, one INSERT.
    Returns how many were recorded."""
    return len(events.events_record(list(records), label=INSURANCE_READ, read=what, **detail))


def insurance_erase(*, lead_id: int) -> int:
    """Blank the lead's insurance identifiers (erasure, retention): the payer, plan and
    ids go; the verification's status and times stay for the funnel."""
    return InsuranceRecord.objects.filter(lead_id=lead_id).update(**INSURANCE_BLANK)
