"""A lead's insurance over HTTP, for coordinators and supervisors:
``GET``/``PUT /api/v1/leads/{reference}/insurance/``, ``POST
/api/v1/leads/{reference}/insurance/verification/`` (where the verification of benefits
stands), and ``GET /api/v1/insurance/waiting/`` (the verifications still to do, no ids).
Member IDs and group numbers are identifiers of a person's health cover: every answer
that carries them is on the audit trail, and no error repeats a value that was sent."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.openapi import FORBIDDEN, INVALID, NOT_FOUND, error, server_rules
from intake import insurance_selectors
from intake import services as intake_services
from intake.models import (
    InsuranceRecord,
    Lead,
    PlanType,
    SubscriberRelationship,
    VerificationStatus,
    payer_choices,
)
from intake.selectors import lead_of_reference

CARE = [roles.HasRole.of(roles.COORDINATOR, roles.SUPERVISOR)]
NO_INSURANCE = error(
    "No insurance is recorded for this lead yet: PUT it first (code `no_insurance`)."
)
WAITING_LIMIT = 200


class FormInsuranceSerializer(serializers.Serializer):
    """The insurance a person may give on the call to action (``POST /api/v1/leads/``,
    under "More options"): optional, never required, kept with that request only,
    encrypted and unverified (intake.models.insurance). Checked for form alone, never
    against what the clinic knows, so the answer cannot tell whether the person is."""

    insurance_payer = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="Optional: the person's insurance company, a value of insurance_payers in "
        "GET /api/v1/cta/ (or self_pay). Kept with this request only, unverified.",
    )
    insurance_member_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="Optional: the member ID on the person's insurance card (letters, digits "
        "and hyphens; spaces are dropped). Kept with this request only, encrypted, unverified.",
    )

    def validate_insurance_payer(self, value: str) -> str:
        value = value.strip()
        if value and value not in {choice for choice, _label in payer_choices()}:
            raise ValidationError(intake_services.payer_rule())
        return value

    def validate_insurance_member_id(self, value: str) -> str:
        cleaned = intake_services.member_id_clean(value)
        if cleaned is None:
            raise ValidationError(intake_services.member_id_rule())
        return cleaned


class InsuranceInputSerializer(serializers.Serializer):
    payer = serializers.CharField(
        max_length=100,
        help_text="A value of INSURANCE_PAYERS (GET /api/v1/cta/ lists them as "
        "insurance_payers), or self_pay.",
    )
    plan_type = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text=f"One of {', '.join(PlanType.values)}, or empty (not known).",
    )
    member_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="As on the card: letters, digits and hyphens (spaces are dropped, letters "
        "upper-cased). Encrypted at rest.",
    )
    group_number = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="As on the card: letters, digits and hyphens. Encrypted at rest.",
    )
    subscriber_relationship = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text=f"Who holds the policy: {', '.join(SubscriberRelationship.values)} "
        "(default self).",
    )


class VerificationInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=VerificationStatus.choices,
        error_messages={
            "invalid_choice": f"Choose one of: {', '.join(VerificationStatus.values)}."
        },
    )


class VerificationChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=VerificationStatus.choices)
    previous_status = serializers.ChoiceField(choices=VerificationStatus.choices)
    changed_at = serializers.DateTimeField()
    changed_by = serializers.CharField(allow_null=True)


class InsuranceGivenSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="The request that gave it.")
    created_at = serializers.DateTimeField()
    payer = serializers.CharField(allow_blank=True)
    payer_label = serializers.CharField(allow_blank=True)
    member_id = serializers.CharField(allow_blank=True)


class InsuranceOutputSerializer(serializers.Serializer):
    recorded = serializers.BooleanField(
        help_text="False until a coordinator records the insurance (the fields are empty)."
    )
    payer = serializers.CharField(allow_blank=True)
    payer_label = serializers.CharField(allow_blank=True)
    plan_type = serializers.CharField(allow_blank=True)
    member_id = serializers.CharField(allow_blank=True)
    group_number = serializers.CharField(allow_blank=True)
    subscriber_relationship = serializers.CharField(allow_blank=True)
    verification_status = serializers.ChoiceField(choices=VerificationStatus.choices)
    verification_changed_at = serializers.DateTimeField(allow_null=True)
    verification_changed_by = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)
    verifications = VerificationChangeSerializer(
        many=True, help_text="Every change of the verification status, newest first."
    )
    given_on_form = InsuranceGivenSerializer(
        many=True,
        help_text="What the person's requests gave on the form, newest first: unverified "
        "(anyone can fill in a form), never copied onto the record but by a coordinator.",
    )


class VerificationWaitingSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="The lead's latest request.")
    first_name = serializers.CharField(allow_blank=True)
    payer = serializers.CharField(allow_blank=True)
    payer_label = serializers.CharField(allow_blank=True)
    plan_type = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=VerificationStatus.choices)
    waiting_since = serializers.DateTimeField(
        help_text="When the status last changed (the record was made, or verification "
        "was requested)."
    )


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def insurance_body(lead: Lead, record: InsuranceRecord | None) -> dict[str, Any]:
    """The answer for the lead's insurance (``InsuranceOutputSerializer``'s shape)."""
    given = insurance_selectors.lead_insurance_given(lead_id=lead.pk)
    body: dict[str, Any] = {
        "recorded": record is not None,
        "payer": "",
        "payer_label": "",
        "plan_type": "",
        "member_id": "",
        "group_number": "",
        "subscriber_relationship": "",
        "verification_status": VerificationStatus.NOT_STARTED,
        "verification_changed_at": None,
        "verification_changed_by": None,
        "updated_at": None,
        "updated_by": None,
        "verifications": [],
        "given_on_form": [
            {
                "reference": each.reference,
                "created_at": each.created_at,
                "payer": each.payer,
                "payer_label": each.payer_label,
                "member_id": each.member_id,
            }
            for each in given
        ],
    }
    if record is not None:
        body.update(
            payer=record.payer,
            payer_label=record.payer_label,
            plan_type=record.plan_type,
            member_id=record.member_id,
            group_number=record.group_number,
            subscriber_relationship=record.subscriber_relationship,
            verification_status=record.verification_status,
            verification_changed_at=record.verification_changed_at,
            verification_changed_by=_username(record.verification_changed_by),
            updated_at=record.updated_at,
            updated_by=_username(record.updated_by),
            verifications=[
                {
                    "status": change.status,
                    "previous_status": change.previous_status,
                    "changed_at": change.changed_at,
                    "changed_by": _username(change.changed_by),
                }
                for change in insurance_selectors.insurance_verifications(record_id=record.pk)
            ],
        )
    return InsuranceOutputSerializer(body).data


def _answer(lead: Lead, *, what: str, reference: str, status_code: int = 200) -> Response:
    """The lead's insurance as it is now, its reads on the audit trail: the record's
    ids (``insurance.read``) and what the forms gave (a read of the lead)."""
    record = insurance_selectors.lead_insurance(lead_id=lead.pk)
    if record is not None:
        intake_services.insurance_access_record(records=[record], what=what, reference=reference)
    intake_services.lead_access_record(lead=lead, what=what, reference=reference)
    return Response(insurance_body(lead, record), status=status_code)


_RULES = server_rules(
    payer="A value of INSURANCE_PAYERS, or self_pay.",
    plan_type="Empty, or one of the plan types.",
    member_id="2 to 30 letters, digits and hyphens once spaces are dropped; empty for self_pay.",
    group_number="At most 30 letters, digits and hyphens; empty for self_pay.",
    subscriber_relationship="Empty (self), or one of the relationships.",
)


class LeadInsuranceApi(APIView):
    """``/api/v1/leads/{reference}/insurance/``: the lead's insurance, and recording it."""

    permission_classes = CARE

    @extend_schema(
        operation_id="leads_insurance_retrieve",
        responses={200: InsuranceOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        tags=["insurance"],
    )
    def get(self, request: Request, reference: str) -> Response:
        lead = lead_of_reference(reference=reference)
        return _answer(lead, what="insurance API", reference=reference)

    @extend_schema(
        operation_id="leads_insurance_update",
        request=InsuranceInputSerializer,
        responses={
            200: InsuranceOutputSerializer,
            201: InsuranceOutputSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        description="Record the lead's insurance, replacing what was recorded (201 the "
        "first time, then 200). A new record's verification is not_started; a self-pay "
        "record's is self_pay; another payer or member ID starts it again.",
        extensions=_RULES,
        tags=["insurance"],
    )
    def put(self, request: Request, reference: str) -> Response:
        lead = lead_of_reference(reference=reference)
        serializer = InsuranceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        checked = intake_services.insurance_check(
            payer=data["payer"],
            plan_type=data.get("plan_type", ""),
            member_id=data.get("member_id", ""),
            group_number=data.get("group_number", ""),
            subscriber_relationship=data.get("subscriber_relationship", ""),
        )
        _record, created = intake_services.insurance_record_save(
            lead_id=lead.pk, request=checked, user_id=request.user.pk
        )
        return _answer(
            lead,
            what="insurance API (recorded)",
            reference=reference,
            status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class LeadInsuranceVerificationApi(APIView):
    """``POST /api/v1/leads/{reference}/insurance/verification/``: where the verification
    of the lead's benefits stands, as the caller found it (who and when are kept)."""

    permission_classes = CARE

    @extend_schema(
        operation_id="leads_insurance_verification_create",
        request=VerificationInputSerializer,
        responses={
            200: InsuranceOutputSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: NO_INSURANCE,
        },
        extensions=server_rules(
            status="requested, verified_in_network, verified_out_of_network and not_covered "
            "need a payer (not self_pay).",
        ),
        tags=["insurance"],
    )
    def post(self, request: Request, reference: str) -> Response:
        lead = lead_of_reference(reference=reference)
        serializer = VerificationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        intake_services.insurance_verification_set(
            lead_id=lead.pk, status=serializer.validated_data["status"], user_id=request.user.pk
        )
        return _answer(lead, what="insurance API (verification)", reference=reference)


class InsuranceWaitingApi(APIView):
    """``GET /api/v1/insurance/waiting/``: the leads whose benefits are still to be
    verified (not_started or requested), the longest waiting first. No member IDs or
    group numbers; the first names shown are a list read on the audit trail."""

    permission_classes = CARE

    @extend_schema(
        operation_id="insurance_waiting_list",
        responses={200: VerificationWaitingSerializer(many=True), 403: FORBIDDEN},
        description=f"At most {WAITING_LIMIT} leads.",
        tags=["insurance"],
    )
    def get(self, request: Request) -> Response:
        rows = insurance_selectors.insurance_verifications_waiting(limit=WAITING_LIMIT)
        intake_services.leads_access_record(
            leads=[row.lead for row in rows], what="insurance verifications waiting"
        )
        return Response(VerificationWaitingSerializer(rows, many=True).data)
