"""The insurance part of the callback page (no JavaScript needed): what is recorded and
where its verification of benefits stands (with who set each status, and when), what
the person's requests gave on the form ("given on the form, not verified", with a
button to use it once checked with the person), the form to record the insurance, and
one button per verification status.

Any coordinator or supervisor may work on it, holder or not: benefits are often
verified after the call, from the "verifications waiting" list. The form's fields are
named ``insurance_*`` on the page; a refused form comes back with each error by its
field and what was typed kept. Showing the page's member ID and group number is an
insurance read on the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clinic.errors import ApplicationError
from intake import insurance_selectors
from intake import services as intake_services
from intake.insurance_selectors import InsuranceGiven
from intake.models import (
    InsuranceRecord,
    InsuranceVerification,
    PlanType,
    SubscriberRelationship,
    VerificationStatus,
    payer_choices,
)
from intake.services import InsuranceRequest

# The page's field names, by the service's.
FIELDS = {
    "payer": "insurance_payer",
    "plan_type": "insurance_plan_type",
    "member_id": "insurance_member_id",
    "group_number": "insurance_group_number",
    "subscriber_relationship": "insurance_relationship",
}
FIELD_NAMES = tuple(FIELDS.values())
STATUS_FIELD = "insurance_status"


@dataclass(frozen=True)
class InsuranceSection:
    record: InsuranceRecord | None
    verifications: list[InsuranceVerification]
    given: list[InsuranceGiven]
    #: What the form shows: as typed after a refusal, else the record, by page field.
    values: dict[str, str]
    errors: dict[str, str]
    error: str
    payers: list[tuple[str, str]]
    plan_types: list[tuple[str, str]]
    relationships: list[tuple[str, str]]
    statuses: list[tuple[str, str]]


def insurance_section(
    *,
    lead_id: int,
    callback_id: int,
    typed: Mapping[str, str],
    errors: Mapping[str, str],
) -> InsuranceSection:
    """The section for the lead's callback page; records the read of the record's ids."""
    record = insurance_selectors.lead_insurance(lead_id=lead_id)
    if record is not None:
        intake_services.insurance_access_record(
            records=[record], what="callback page", callback=callback_id
        )
    refused = any(name in errors for name in (*FIELD_NAMES, "insurance"))
    if refused:
        values = {name: typed.get(name, "") for name in FIELD_NAMES}
    elif record is not None:
        values = {page: str(getattr(record, field)) for field, page in FIELDS.items()}
    else:
        values = {name: "" for name in FIELD_NAMES}
    return InsuranceSection(
        record=record,
        verifications=insurance_selectors.insurance_verifications(record_id=record.pk)
        if record is not None
        else [],
        given=insurance_selectors.lead_insurance_given(lead_id=lead_id),
        values=values,
        errors={name: errors[name] for name in (*FIELD_NAMES, STATUS_FIELD) if name in errors},
        error=errors.get("insurance", ""),
        payers=payer_choices(),
        plan_types=list(PlanType.choices),
        relationships=list(SubscriberRelationship.choices),
        statuses=list(VerificationStatus.choices),
    )


def insurance_request(form: Mapping[str, Any]) -> InsuranceRequest:
    """The insurance a sent form asks to record, checked by intake
    (``insurance_check``). Raises ``ApplicationError`` with the page's field names under
    ``fields`` when it is refused."""
    try:
        return intake_services.insurance_check(
            **{field: form.get(page, "") for field, page in FIELDS.items()}
        )
    except ApplicationError as error:
        error.fields = {FIELDS.get(name, name): text for name, text in (error.fields or {}).items()}
        raise
