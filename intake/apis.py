"""The public intake API. Thin: validate, call a service, shape the answer."""

from __future__ import annotations

import unicodedata
import zoneinfo
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from phonenumber_field.phonenumber import to_python
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from config.exceptions import ErrorSerializer
from intake.models import Lead
from intake.services import UTM_FIELDS, LeadSubmitOutcome, lead_submit, request_fingerprint

_TIME_ZONES = frozenset(zoneinfo.available_timezones())


def clean_text(value: str) -> str:
    """NFC-normalised, trimmed, and free of control characters (which names never hold)."""
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in value):
        raise ValidationError("Control characters are not allowed.")
    return value


class LeadSubmitIpThrottle(AnonRateThrottle):
    scope = "lead_submit_ip"


class LeadSubmitInputSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    preferred_channel = serializers.ChoiceField(
        choices=Lead.Channel.choices, default=Lead.Channel.CALL
    )
    best_time = serializers.ChoiceField(
        choices=Lead.BestTime.choices, default=Lead.BestTime.ANYTIME
    )
    timezone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="IANA time zone name."
    )
    interest = serializers.CharField(max_length=100, required=False, allow_blank=True)
    message = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, trim_whitespace=True
    )
    sms_consent = serializers.BooleanField(default=False)
    article = serializers.CharField(max_length=200, required=False, allow_blank=True)
    page_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    referrer = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    website = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Honeypot: leave empty."
    )

    def validate_first_name(self, value: str) -> str:
        value = clean_text(value)
        if not value:
            raise ValidationError("This field may not be blank.")
        return value

    def validate_last_name(self, value: str) -> str:
        return clean_text(value)

    def validate_phone(self, value: str) -> Any:
        if not value.strip():
            return None
        number = to_python(value, region=settings.PHONENUMBER_DEFAULT_REGION)
        if number is None or not number.is_valid():
            raise ValidationError("Enter a valid phone number.")
        return number

    def validate_email(self, value: str) -> str:
        return value.strip().lower()

    def validate_timezone(self, value: str) -> str:
        if value and value not in _TIME_ZONES:
            raise ValidationError("Unknown time zone.")
        return value

    def validate_interest(self, value: str) -> str:
        value = clean_text(value)
        if value and value not in settings.INTAKE_INTERESTS:
            raise ValidationError(f"Choose one of: {', '.join(settings.INTAKE_INTERESTS)}.")
        return value

    def validate_message(self, value: str) -> str:
        value = unicodedata.normalize("NFC", value)
        if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
            raise ValidationError("Control characters are not allowed.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("phone") and not attrs.get("email"):
            raise ValidationError(
                {
                    "phone": ["Give a phone number or an email address."],
                    "email": ["Give an email address or a phone number."],
                }
            )
        return attrs


def lead_submit_validated(
    *,
    request: HttpRequest,
    data: dict[str, Any],
    idempotency_key: str = "",
    request_sha256: str = "",
) -> LeadSubmitOutcome:
    """Call ``lead_submit`` with a validated form or API body and the request's origin."""
    return lead_submit(
        first_name=data["first_name"],
        last_name=data.get("last_name", ""),
        phone=data.get("phone"),
        email=data.get("email", ""),
        preferred_channel=data["preferred_channel"],
        best_time=data["best_time"],
        tz_name=data.get("timezone", ""),
        interest=data.get("interest", ""),
        message=data.get("message", ""),
        sms_consent=data["sms_consent"],
        article_slug=data.get("article", ""),
        page_url=data.get("page_url", ""),
        referrer=data.get("referrer", ""),
        utm={name: data.get(name, "") for name in UTM_FIELDS},
        is_spam=bool(data.get("website")),
        ip_address=LeadSubmitIpThrottle().get_ident(request),
        user_agent=request.headers.get("User-Agent", ""),
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
    )


class CallbackWindowSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class LeadSubmitOutputSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="Names this submission; new every time.")
    status = serializers.CharField(default="received")
    callback_window = CallbackWindowSerializer()


class LeadSubmitApi(APIView):
    """``POST /api/v1/leads/``: a reader answers an article's call to action."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LeadSubmitIpThrottle]

    @extend_schema(
        operation_id="leads_create",
        request=LeadSubmitInputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Repeat it to replay the first answer without storing anything.",
            )
        ],
        responses={
            201: LeadSubmitOutputSerializer,
            400: ErrorSerializer,
            413: ErrorSerializer,
            415: ErrorSerializer,
            422: OpenApiResponse(ErrorSerializer, "Idempotency-Key reused with another body."),
            429: ErrorSerializer,
        },
        auth=[],
        tags=["intake"],
    )
    def post(self, request: Request) -> Response:
        serializer = LeadSubmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()[:255]
        outcome = lead_submit_validated(
            request=request,
            data=serializer.validated_data,
            idempotency_key=key,
            request_sha256=request_fingerprint(request.data) if key else "",
        )
        submission = outcome.submission
        body = LeadSubmitOutputSerializer(
            {
                "reference": submission.reference,
                "status": "received",
                "callback_window": submission.callback_window,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED)
