"""A callback request, ``POST /api/v1/leads/`` (public), and the care team's view of
one lead, ``GET /api/v1/leads/{reference}/``. Thin: parse, call a service, shape the
answer."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from phonenumber_field.phonenumber import PhoneNumber, to_python
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.errors import ErrorSerializer
from clinic.openapi import NOT_FOUND, server_rules
from intake import next_contact
from intake.apis import ERRORS, OnceBoundSerializer, PublicApi
from intake.apis.insurance import FormInsuranceSerializer
from intake.consent import CONSENT_TEXTS
from intake.crisis import crisis_resources
from intake.models import Lead, PhoneType, Submission
from intake.selectors import lead_consents, lead_of_reference, lead_submissions
from intake.services import (
    UTM_FIELDS,
    LeadSubmitOutcome,
    lead_access_record,
    phone_type_of,
    request_fingerprint,
    submission_check,
    submission_store,
)
from intake.throttles import (
    client_ip,
    limits_hit,
    request_limits,
)

_TIME_ZONES = frozenset(zoneinfo.available_timezones())
# Calling these costs the clinic money and no person answers them (SMS pumping).
_REFUSED_PHONE_TYPES = frozenset({PhoneType.PREMIUM_RATE, PhoneType.SHARED_COST})
_http_url = URLValidator(schemes=["http", "https"])


def clean_text(value: str) -> str:
    """NFC-normalised, trimmed, and free of control characters (which names never hold)."""
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in value):
        raise ValidationError("Control characters are not allowed.")
    return value


# Letters and marks of any script, spaces and ' - . (and the typographic apostrophe).
_NAME_PUNCTUATION = frozenset(" '-.\u2019")
# "evil.example", "www.evil.example": letters, a dot, letters, no space (a domain).
_DOMAIN_LIKE = re.compile(r"[^\W\d_]{2,}\.[^\W\d_]{2,}")


def person_name(value: str) -> str:
    """A name as people write theirs, or ``ValidationError``: no digits, links or
    markup, since the clinic repeats the first name in texts and emails."""
    allowed = all(
        char in _NAME_PUNCTUATION or unicodedata.category(char)[0] in "LM" for char in value
    )
    if not allowed or _DOMAIN_LIKE.search(value):
        raise ValidationError("Use letters, spaces, apostrophes, hyphens and full stops only.")
    if not any(unicodedata.category(char)[0] == "L" for char in value):
        raise ValidationError("Enter a name.")
    return value


def strip_controls(value: str) -> str:
    """For values copied from URLs: NFC, trimmed, control characters dropped."""
    value = unicodedata.normalize("NFC", value)
    return "".join(char for char in value if unicodedata.category(char) not in {"Cc", "Cf"}).strip()


# --- Serializers -------------------------------------------------------------------


class ContactPreferencesSerializer(OnceBoundSerializer):
    voicemail_ok = serializers.BooleanField(
        required=False, help_text="A message may be left on voicemail. Default false."
    )
    mention_clinic_ok = serializers.BooleanField(
        required=False,
        help_text="The clinic may be named to whoever answers or reads. Default true.",
    )


class FirstTouchSerializer(OnceBoundSerializer):
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    at = serializers.DateTimeField(required=False, help_text="When the first touch happened.")

    def to_internal_value(self, data: Any) -> dict[str, str]:
        values = super().to_internal_value(data)
        stored = {name: strip_controls(values[name]) for name in UTM_FIELDS if values.get(name)}
        if values.get("at"):
            stored["at"] = values["at"].astimezone(UTC).isoformat()
        return stored


class LeadSubmitInputSerializer(FormInsuranceSerializer, OnceBoundSerializer):
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="Required unless email is given. Stored in E.164.",
    )
    email = serializers.EmailField(
        max_length=254,
        required=False,
        allow_blank=True,
        help_text="Required unless phone is given.",
    )
    preferred_channel = serializers.ChoiceField(
        choices=Lead.Channel.choices, default=Lead.Channel.CALL
    )
    best_time = serializers.ChoiceField(
        choices=Lead.BestTime.choices, default=Lead.BestTime.ANYTIME
    )
    timezone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="IANA time zone name."
    )
    interest = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="One of GET /api/v1/cta/."
    )
    message = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, trim_whitespace=True
    )
    in_crisis = serializers.BooleanField(
        default=False, help_text="The person needs help right now: crisis resources, urgent call."
    )
    sms_consent = serializers.BooleanField(default=False)
    consent_version = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        help_text="Version of the consent text shown (GET /api/v1/cta/); default the current.",
    )
    contact_preferences = ContactPreferencesSerializer(required=False)
    article = serializers.CharField(max_length=200, required=False, allow_blank=True)
    page_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    referrer = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    first_touch = FirstTouchSerializer(
        required=False, help_text="The first campaign touch the embed remembered."
    )
    captcha_token = serializers.CharField(
        max_length=4096,
        required=False,
        allow_blank=True,
        help_text="Turnstile or hCaptcha token, when CAPTCHA_PROVIDER is set.",
    )
    website = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Honeypot: leave empty."
    )

    def validate_first_name(self, value: str) -> str:
        value = clean_text(value)
        if not value:
            raise ValidationError("This field may not be blank.")
        return person_name(value)

    def validate_last_name(self, value: str) -> str:
        value = clean_text(value)
        return person_name(value) if value else value

    def validate_phone(self, value: str) -> PhoneNumber | None:
        if not value.strip():
            return None
        number = to_python(value, region=settings.PHONENUMBER_DEFAULT_REGION)
        if not isinstance(number, PhoneNumber) or not number.is_valid():
            raise ValidationError("Enter a valid phone number.")
        if phone_type_of(number) in _REFUSED_PHONE_TYPES:
            raise ValidationError("Enter a number we can call you back on.")
        return number

    def validate_email(self, value: str) -> str:
        return unicodedata.normalize("NFC", value).strip().lower()

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

    def validate_consent_version(self, value: str) -> str:
        value = value.strip()
        if value and value not in CONSENT_TEXTS:
            raise ValidationError("Unknown consent text version.")
        return value

    def _url(self, value: str) -> str:
        # A page or referrer the browser reported; an odd one is dropped, never a lost lead.
        value = strip_controls(value)
        try:
            _http_url(value)
        except DjangoValidationError:
            return ""
        return value

    def validate_page_url(self, value: str) -> str:
        return self._url(value)

    def validate_referrer(self, value: str) -> str:
        return self._url(value)

    def validate_article(self, value: str) -> str:
        return strip_controls(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in UTM_FIELDS:
            if name in attrs:
                attrs[name] = strip_controls(attrs[name])
        if not attrs.get("phone") and not attrs.get("email"):
            raise ValidationError(
                {
                    "phone": ["Give a phone number or an email address."],
                    "email": ["Give an email address or a phone number."],
                }
            )
        if attrs["preferred_channel"] == Lead.Channel.SMS and not attrs.get("phone"):
            raise ValidationError({"phone": ["Give a phone number to be reached by text."]})
        if attrs["preferred_channel"] == Lead.Channel.EMAIL and not attrs.get("email"):
            raise ValidationError({"email": ["Give an email address to be reached by email."]})
        return attrs


class CallbackWindowSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class CrisisResourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    phone = serializers.CharField(help_text="Number to call, or empty.", allow_blank=True)
    sms = serializers.CharField(help_text="Number to text, or empty.", allow_blank=True)


class NextContactSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(
        choices=["call", "text", "email"],
        help_text="How a care coordinator will get back: as chosen, as far as the details "
        "given allow (never a call without a phone, a text only with consent to texts).",
    )
    text = serializers.CharField(
        help_text="What to tell the person, ready to show: how and when, in their time zone "
        "(else the clinic's, and it says so); while the clinic is closed it says so.",
    )
    time_zone = serializers.CharField(help_text="IANA zone of the times in the text.")


class LeadSubmitOutputSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text="Names this submission; new every time.")
    status = serializers.CharField(default="received")
    callback_window = CallbackWindowSerializer()
    next_contact = NextContactSerializer(
        help_text="The callback window in words, as the thank-you page and confirmations say it."
    )
    crisis_resources = CrisisResourceSerializer(
        many=True,
        required=False,
        help_text="Present only when the person said they are in crisis or wrote crisis "
        "language: show these at once.",
    )


def submission_next_contact(submission: Submission) -> dict[str, str]:
    """How and when we will be in touch about ``submission``, in words, as of now, from
    the submission alone and clinic time (``intake.next_contact``), so a known and an
    unknown person read the same."""
    promise = next_contact.next_contact(submission=submission, now=timezone.now())
    return {"channel": promise.channel, "text": promise.text, "time_zone": promise.time_zone}


def lead_submit_answer(outcome: LeadSubmitOutcome) -> dict[str, Any]:
    """The 201 body (``LeadSubmitOutputSerializer``'s shape, built directly: every value
    is already a string): the same shape for a new or a known person; crisis resources
    added when the submission is a crisis. ``next_contact`` says the callback window in
    words (server-side, so the no-JavaScript page and the confirmations say the same)."""
    submission = outcome.submission
    window = submission.callback_window
    answer: dict[str, Any] = {
        "reference": submission.reference,
        "status": "received",
        "callback_window": {"starts_at": window["starts_at"], "ends_at": window["ends_at"]},
        "next_contact": submission_next_contact(submission),
    }
    if submission.is_crisis:
        answer["crisis_resources"] = [
            {name: resource[name] for name in ("name", "description", "phone", "sms")}
            for resource in crisis_resources()
        ]
    return answer


def _fingerprint(body: dict[str, Any]) -> str:
    # A retry may carry a fresh bot-check token (they are single-use); it is the same request.
    return request_fingerprint(
        {name: value for name, value in body.items() if name != "captcha_token"}
    )


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if key and (len(key) > 255 or not all("!" <= char <= "~" for char in key)):
        raise ValidationError(
            {"Idempotency-Key": ["Use 1 to 255 visible ASCII characters, such as a UUID."]}
        )
    return key


# --- Views ---------------------------------------------------------------------------


class LeadSubmitApi(PublicApi):
    """``POST /api/v1/leads/``: a reader answers an article's call to action."""

    # Per IP and per network, in one Redis round trip (check_throttles), before the
    # body is read; per phone and per address after validation (silent).
    throttle_classes: list = []

    def check_throttles(self, request: Request) -> None:
        waits = [
            verdict.wait for verdict in limits_hit(request_limits(request)) if not verdict.allowed
        ]
        if waits:
            self.throttled(request, max(waits))

    @extend_schema(
        operation_id="leads_create",
        summary="Request a callback",
        request=LeadSubmitInputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Repeat it to replay the first answer without storing anything "
                "(for 24 hours). 1 to 255 visible ASCII characters.",
            )
        ],
        responses={
            201: LeadSubmitOutputSerializer,
            **ERRORS,
            422: OpenApiResponse(ErrorSerializer, "Idempotency-Key reused with another body."),
        },
        extensions=server_rules(
            first_name="Letters (at least one), spaces, apostrophes, hyphens and full stops; "
            "nothing like a web address.",
            last_name="As first_name, when given.",
            phone="Required unless email is given, and with preferred_channel sms: a valid "
            "number (national numbers read in PHONENUMBER_DEFAULT_REGION) that can be called "
            "back (not premium-rate or shared-cost).",
            email="Required unless phone is given, and with preferred_channel email.",
            timezone="An IANA time zone name.",
            interest="One of the interests GET /api/v1/cta/ lists.",
            message="No control characters besides tab and line breaks.",
            consent_version="A version GET /api/v1/cta/ has shown.",
            insurance_payer="Empty, or a value of insurance_payers in GET /api/v1/cta/.",
            insurance_member_id="Empty, or 2 to 30 letters, digits and hyphens (spaces "
            "dropped). Never copied onto a known person's insurance: a coordinator checks it.",
            captcha_token="Passes the CAPTCHA provider's check when CAPTCHA_PROVIDER is set.",  # noqa: S106 (a rule, not a secret)
        ),
        auth=[],
        tags=["intake"],
    )
    def post(self, request: Request) -> Response:
        serializer = LeadSubmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = _idempotency_key(request)
        checked = submission_check(
            data=serializer.validated_data,
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            idempotency_key=key,
            request_sha256=_fingerprint(request.data) if key else "",
        )
        outcome = submission_store(request=checked)
        return Response(lead_submit_answer(outcome), status=status.HTTP_201_CREATED)


# --- Staff: one lead --------------------------------------------------------------------


class LeadSubmissionSerializer(serializers.Serializer):
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    source = serializers.CharField()
    article = serializers.CharField(source="article.slug", allow_null=True, default=None)
    interest = serializers.CharField()
    message = serializers.CharField()
    is_crisis = serializers.BooleanField()
    is_spam = serializers.BooleanField()
    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    utm_term = serializers.CharField()
    utm_content = serializers.CharField()


class LeadConsentSerializer(serializers.Serializer):
    scope = serializers.CharField()
    granted = serializers.BooleanField()
    text_version = serializers.CharField()
    text_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()


class LeadDetailOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    phone = serializers.CharField(allow_blank=True)
    phone_type = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_blank=True)
    preferred_channel = serializers.CharField()
    best_time = serializers.CharField()
    timezone = serializers.CharField(allow_blank=True)
    voicemail_ok = serializers.BooleanField()
    mention_clinic_ok = serializers.BooleanField()
    needs_review = serializers.BooleanField()
    stage = serializers.CharField()
    created_at = serializers.DateTimeField()
    contacting_at = serializers.DateTimeField(allow_null=True)
    contacted_at = serializers.DateTimeField(allow_null=True)
    consult_booked_at = serializers.DateTimeField(allow_null=True)
    consult_attended_at = serializers.DateTimeField(allow_null=True)
    admitted_at = serializers.DateTimeField(allow_null=True)
    screened_at = serializers.DateTimeField(allow_null=True)
    insurance_verified_at = serializers.DateTimeField(allow_null=True)
    waitlisted_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_reason = serializers.CharField(allow_blank=True)
    submissions = LeadSubmissionSerializer(many=True)
    consents = LeadConsentSerializer(many=True)


class LeadDetailApi(APIView):
    """``GET /api/v1/leads/{reference}/``: the person behind a submission, with all
    their submissions and consent records. The care team only (personal data)."""

    permission_classes = [roles.HasRole.of(*roles.CARE_TEAM)]

    @extend_schema(
        operation_id="leads_retrieve",
        responses={200: LeadDetailOutputSerializer, 403: ErrorSerializer, 404: NOT_FOUND},
        tags=["intake"],
    )
    def get(self, request: Request, reference: str) -> Response:
        lead = lead_of_reference(reference=reference)
        lead_access_record(lead=lead, what="lead detail API", reference=reference)
        body = {
            **{field: getattr(lead, field) for field in LeadDetailOutputSerializer().fields},
            "phone": str(lead.phone) if lead.phone else "",
            "submissions": lead_submissions(lead_id=lead.pk),
            "consents": lead_consents(lead_id=lead.pk),
        }
        return Response(LeadDetailOutputSerializer(body).data)
