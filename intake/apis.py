"""The public intake API. Thin: validate, call a service, shape the answer.

Three public endpoints, each ``AllowAny`` with a throttle, no authentication and
so no cookies: ``POST /api/v1/leads/``, ``POST /api/v1/events/`` and
``GET /api/v1/cta/``. Every error leaves in clinic.errors' one shape.
"""

from __future__ import annotations

import csv
import io
import re
import time
import unicodedata
import zoneinfo
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.http import HttpRequest
from django.utils import timezone
from django.utils.cache import patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from phonenumber_field.phonenumber import PhoneNumber, to_python
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.errors import ApplicationError, ErrorSerializer
from clinic.openapi import NOT_FOUND, server_rules
from intake import next_contact
from intake.captcha import CaptchaVerdict, CaptchaVerifier
from intake.consent import CONSENT_TEXTS
from intake.crisis import crisis_resources
from intake.models import CtaEventType, CtaFormField, Lead, PhoneType, Submission
from intake.parsers import BoundedJSONParser, PlainTextJSONParser
from intake.report_table import csv_fields, csv_header
from intake.reports import GROUPS, article_funnel_report, form_abandonment_report
from intake.selectors import cta_config, lead_by_reference, lead_consents, lead_submissions
from intake.services import (
    UTM_FIELDS,
    LeadSubmitOutcome,
    cta_event_record,
    lead_access_record,
    lead_submit,
    lead_submit_replay,
    phone_type_of,
    request_fingerprint,
)
from intake.services.events import EventThrottled, clinic_day
from intake.throttles import (
    CtaConfigIpThrottle,
    client_ip,
    contact_limits,
    limits_hit,
    limits_unhit,
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


class ContactPreferencesSerializer(serializers.Serializer):
    voicemail_ok = serializers.BooleanField(
        required=False, help_text="A message may be left on voicemail. Default false."
    )
    mention_clinic_ok = serializers.BooleanField(
        required=False,
        help_text="The clinic may be named to whoever answers or reads. Default true.",
    )


class FirstTouchSerializer(serializers.Serializer):
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


class LeadSubmitInputSerializer(serializers.Serializer):
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


def lead_submit_validated(
    *,
    request: HttpRequest | Request,
    data: dict[str, Any],
    idempotency_key: str = "",
    request_sha256: str = "",
) -> LeadSubmitOutcome:
    """Call ``lead_submit`` with a validated form or API body and the request's origin.

    A replayed Idempotency-Key is not counted against the phone or address and is
    not checked for a bot again (a captcha token is single-use, and a retry is not a
    new request). Without a bot check the key is not looked up first: claiming it
    fails on the unique key and ``lead_submit`` answers with the replay (one query
    fewer on every request); its hits on the contact limits are then taken back.
    Raises ``ApplicationError``."""
    verifier = CaptchaVerifier.from_settings()
    if idempotency_key and verifier is not None:
        replay = lead_submit_replay(idempotency_key=idempotency_key, request_sha256=request_sha256)
        if replay is not None:
            return replay
    ip = client_ip(request)
    phone = data.get("phone")
    email = data.get("email", "")
    # Past the per-phone or per-address limit the request is stored and answered like
    # any other, but nothing is sent: a 429 here would tell a stranger that someone
    # else has used this number or address.
    limits = contact_limits(phone=phone.as_e164 if phone else "", email=email)
    counted_at = time.time()
    limited = {
        limit.scope
        for limit, verdict in zip(limits, limits_hit(limits, now=counted_at), strict=True)
        if not verdict.allowed
    }
    if verifier is not None:
        verdict = verifier.verify(token=data.get("captcha_token", ""), remote_ip=ip)
        # UNAVAILABLE lets the request in: a provider's outage must not lose leads.
        if verdict is CaptchaVerdict.FAILED:
            raise ApplicationError(
                "Some fields are not valid.",
                fields={"captcha_token": ["The check that you are not a robot failed."]},
            )
    outcome = lead_submit(
        first_name=data["first_name"],
        last_name=data.get("last_name", ""),
        phone=phone,
        email=email,
        preferred_channel=data["preferred_channel"],
        best_time=data["best_time"],
        tz_name=data.get("timezone", ""),
        interest=data.get("interest", ""),
        message=data.get("message", ""),
        sms_consent=data["sms_consent"],
        consent_version=data.get("consent_version", ""),
        contact_preferences=dict(data.get("contact_preferences") or {}),
        in_crisis=data.get("in_crisis", False),
        article_slug=data.get("article", ""),
        page_url=data.get("page_url", ""),
        referrer=data.get("referrer", ""),
        utm={name: data.get(name, "") for name in UTM_FIELDS},
        first_touch=dict(data.get("first_touch") or {}),
        is_spam=bool(data.get("website")),
        ip_address=ip,
        user_agent=request.headers.get("User-Agent", ""),
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
        phone_limited="lead_submit_phone" in limited,
        email_limited="lead_submit_email" in limited,
    )
    if outcome.replayed:
        limits_unhit(limits, now=counted_at)
    return outcome


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
    """The 201 body: the same shape for a new or a known person; crisis resources added
    when the submission is a crisis. ``next_contact`` says the callback window in words
    (server-side, so the no-JavaScript page and the confirmations say the same)."""
    submission = outcome.submission
    answer: dict[str, Any] = {
        "reference": submission.reference,
        "status": "received",
        "callback_window": submission.callback_window,
        "next_contact": submission_next_contact(submission),
    }
    if submission.is_crisis:
        answer["crisis_resources"] = crisis_resources()
    return LeadSubmitOutputSerializer(answer).data


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

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, "Invalid fields, malformed JSON."),
    413: OpenApiResponse(ErrorSerializer, "Body over 64 KB."),
    415: OpenApiResponse(ErrorSerializer, "Body not JSON."),
    429: OpenApiResponse(ErrorSerializer, "Throttled; see the Retry-After header (seconds)."),
}


class PublicApi(APIView):
    """Anyone may call it; no authentication, so no session and no cookie."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    parser_classes = [BoundedJSONParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # DRF reads a body without a Content-Type as empty; it is not JSON.
        if request.method == "POST" and not request.content_type and _has_body(request):
            raise UnsupportedMediaType("", detail="Send the body as application/json.")


def _has_body(request: Request) -> bool:
    meta = request.META
    try:
        return int(meta.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return True


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
            captcha_token="Passes the CAPTCHA provider's check when CAPTCHA_PROVIDER is set.",  # noqa: S106 (a rule, not a secret)
        ),
        auth=[],
        tags=["intake"],
    )
    def post(self, request: Request) -> Response:
        serializer = LeadSubmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = _idempotency_key(request)
        outcome = lead_submit_validated(
            request=request,
            data=serializer.validated_data,
            idempotency_key=key,
            request_sha256=_fingerprint(request.data) if key else "",
        )
        return Response(lead_submit_answer(outcome), status=status.HTTP_201_CREATED)


class CtaEventInputSerializer(serializers.Serializer):
    article = serializers.SlugField(max_length=200, help_text="Slug of the article.")
    type = serializers.ChoiceField(choices=CtaEventType.choices)
    field = serializers.ChoiceField(
        choices=CtaFormField.choices,
        required=False,
        help_text="form_abandon only, and required there: the name of the form field the "
        "reader last touched before leaving the page with the form started and not sent "
        "(a name from this list, never a value). Refused with the other types.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        abandon = attrs["type"] == CtaEventType.FORM_ABANDON
        if abandon and not attrs.get("field"):
            raise ValidationError({"field": ["Required with form_abandon."]})
        if not abandon and "field" in attrs:
            raise ValidationError({"field": ["Only form_abandon names a field."]})
        return attrs


class CtaEventApi(PublicApi):
    """``POST /api/v1/events/``: an anonymous beacon (article view, CTA view, form start,
    form left unsent with the field last touched).

    Takes no cookie, keeps no IP and no personal data; obvious bots are answered
    but not counted."""

    # The per-IP limit is checked with the count, in one Redis round trip.
    throttle_classes: list = []
    # text/plain too: navigator.sendBeacon posts a string body that way, without preflight.
    parser_classes = [BoundedJSONParser, PlainTextJSONParser]

    @extend_schema(
        operation_id="events_create",
        summary="Count a call-to-action event",
        request={
            "application/json": CtaEventInputSerializer,
            "text/plain": CtaEventInputSerializer,
        },
        responses={204: OpenApiResponse(description="Counted (or ignored)."), **ERRORS},
        extensions=server_rules(field="Required with type form_abandon, refused with the others."),
        auth=[],
        tags=["intake"],
    )
    def post(self, request: Request) -> Response:
        serializer = CtaEventInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            cta_event_record(
                article_slug=serializer.validated_data["article"],
                event_type=serializer.validated_data["type"],
                field=serializer.validated_data.get("field", ""),
                user_agent=request.headers.get("User-Agent", ""),
                client_address=client_ip(request) or "",
            )
        except EventThrottled as error:
            self.throttled(request, error.wait)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CtaConsentSerializer(serializers.Serializer):
    version = serializers.CharField()
    text = serializers.CharField()
    sha256 = serializers.CharField()


class CtaChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class CtaCaptchaSerializer(serializers.Serializer):
    provider = serializers.CharField(allow_blank=True, help_text='"", turnstile or hcaptcha.')
    site_key = serializers.CharField(allow_blank=True)


class CtaConfigOutputSerializer(serializers.Serializer):
    consent = CtaConsentSerializer(help_text="Show this text; send its version back.")
    interests = CtaChoiceSerializer(many=True)
    preferred_channels = CtaChoiceSerializer(many=True)
    best_times = CtaChoiceSerializer(many=True)
    crisis_resources = CrisisResourceSerializer(many=True)
    captcha = CtaCaptchaSerializer()


class CtaConfigQuerySerializer(serializers.Serializer):
    article = serializers.CharField(max_length=200, required=False, allow_blank=True)


class CtaConfigApi(PublicApi):
    """``GET /api/v1/cta/?article=<slug>``: what the embed shows, from the server."""

    throttle_classes = [CtaConfigIpThrottle]

    @extend_schema(
        operation_id="cta_config",
        summary="The call to action's consent text and choices",
        parameters=[
            OpenApiParameter(
                "article", str, OpenApiParameter.QUERY, required=False, description="Slug."
            )
        ],
        responses={
            200: CtaConfigOutputSerializer,
            400: OpenApiResponse(ErrorSerializer, "Invalid query parameters."),
            429: ERRORS[429],
        },
        auth=[],
        tags=["intake"],
    )
    def get(self, request: Request) -> Response:
        CtaConfigQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        seconds = settings.CTA_CONFIG_CACHE_SECONDS
        body = cache.get_or_set(
            f"intake:cta-config:{settings.CONSENT_TEXT_VERSION}",
            lambda: CtaConfigOutputSerializer(cta_config()).data,
            timeout=seconds,
        )
        response = Response(body)
        patch_cache_control(response, public=True, max_age=seconds)
        return response


# --- Conversion reports (marketing) ----------------------------------------------------

REPORT_ROLES = (roles.MARKETING, roles.SUPERVISOR, roles.ADMIN)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 0},
            {"type": "string", "pattern": "^<[0-9]+$", "example": "<5"},
            {"type": "string", "enum": ["hidden"]},
        ],
        "nullable": True,
        "description": 'A count; below REPORT_MIN_CELL it is the string "<N>" '
        "(small-cell suppression). Counts of people (submissions to admitted) are "
        "perturbed by at most REPORT_NOISE, the same for the same people whatever the "
        "query, so that overlapping queries cannot be subtracted to recover a small count, "
        'and are "<N>" when their perturbed value is below N; CTA event counts are exact, '
        'and "hidden" where a larger one is withheld so that a small one in the same column '
        "cannot be recovered from the total. In every row no stage shows more than the "
        "stage before it (article views to admitted): a stage shows at least the stage "
        "after it. Null where it does not apply (CTA events by campaign or source).",
    }
)
class SuppressedCountField(serializers.Field):
    def to_representation(self, value: Any) -> Any:
        return value


class ReportRatesSerializer(serializers.Serializer):
    """Each null when a count it divides is suppressed, zero or not applicable."""

    cta_view_rate = serializers.FloatField(allow_null=True, help_text="CTA views / article views.")
    form_start_rate = serializers.FloatField(allow_null=True, help_text="Form starts / CTA views.")
    submission_rate = serializers.FloatField(
        allow_null=True, help_text="Submissions / form starts (phone calls start no form)."
    )
    contact_rate = serializers.FloatField(allow_null=True, help_text="Contacted / leads.")
    booking_rate = serializers.FloatField(
        allow_null=True, help_text="Consultation booked / contacted."
    )
    attendance_rate = serializers.FloatField(allow_null=True, help_text="Attended / booked.")
    admission_rate = serializers.FloatField(allow_null=True, help_text="Admitted / attended.")
    lead_to_patient_rate = serializers.FloatField(allow_null=True, help_text="Admitted / leads.")


class ReportWaitSerializer(serializers.Serializer):
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)


class ReportFirstContactSerializer(serializers.Serializer):
    system = ReportWaitSerializer(
        help_text="From the submission to the callback and confirmations being queued."
    )
    coordinators = ReportWaitSerializer(help_text="From then to the first contact.")


class ReportRowSerializer(serializers.Serializer):
    key = serializers.CharField(
        allow_blank=True,
        help_text="Article slug, topic, UTM value, web/phone, or the first day of the week "
        "or month.",
    )
    label = serializers.CharField()
    article_views = SuppressedCountField()
    cta_views = SuppressedCountField()
    form_starts = SuppressedCountField()
    submissions = SuppressedCountField()
    leads = SuppressedCountField(help_text="Unique people (spam excluded).")
    contacted = SuppressedCountField()
    consult_booked = SuppressedCountField()
    consult_attended = SuppressedCountField()
    admitted = SuppressedCountField()
    rates = ReportRatesSerializer()
    first_contact = ReportFirstContactSerializer(
        help_text="Time to first contact, estimated from a histogram; null for fewer than "
        "REPORT_MIN_CELL leads."
    )
    contacted_within_target_share = serializers.FloatField(
        allow_null=True,
        help_text="Share of contacted leads reached by the end of the callback window "
        "promised at their first submission (the speed-to-lead target in clinic hours).",
    )


class FormFieldSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The form field's name, as in the events API.")
    label = serializers.CharField()


class FormAbandonmentRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Article slug.")
    label = serializers.CharField()
    counts = serializers.DictField(
        child=SuppressedCountField(),
        help_text="Per field name (every one of ``fields``): forms left unsent with this "
        "field touched last.",
    )


class FormAbandonmentSerializer(serializers.Serializer):
    fields = FormFieldSerializer(
        many=True, help_text="The columns: fields with a count in some row, in form order."
    )
    rows = FormAbandonmentRowSerializer(
        many=True,
        help_text="One per article with a count of at least min_cell (articles whose "
        "counts are all suppressed are left out); no total.",
    )


class ArticleReportOutputSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    group = serializers.CharField()
    attribution = serializers.CharField()
    article = serializers.CharField(allow_blank=True)
    min_cell = serializers.IntegerField(help_text="Counts below this (and above 0) are hidden.")
    noise = serializers.IntegerField(
        help_text="Counts of people are the true count plus a noise within +-noise (0: exact)."
    )
    rows = ReportRowSerializer(many=True)
    total = ReportRowSerializer()
    form_abandonment = FormAbandonmentSerializer(
        help_text="Started forms left unsent, per article and field last touched (counts "
        "of page views, exact, small ones suppressed; field names only, never values), "
        "over the same days and article filter whatever the grouping. Not in the CSV."
    )


class ArticleReportQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(
        required=False, help_text="First clinic day (default: 90 days before date_to)."
    )
    date_to = serializers.DateField(required=False, help_text="Last clinic day (default: today).")
    group = serializers.ChoiceField(choices=GROUPS, default="article")
    attribution = serializers.ChoiceField(
        choices=[("first", "First touch"), ("last", "Last touch")],
        default="first",
        help_text="first: everything a lead does counts for their first touch; last: each "
        "step counts for the latest submission before it.",
    )
    article = serializers.SlugField(
        max_length=200, required=False, allow_blank=True, help_text="Only this article."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        date_to = attrs.get("date_to") or clinic_day()
        date_from = attrs.get("date_from") or date_to - timedelta(days=89)
        if date_from > date_to:
            raise ValidationError({"date_from": ["Must be on or before date_to."]})
        if (date_to - date_from).days > 3 * 366:
            raise ValidationError({"date_from": ["At most three years at a time."]})
        attrs.update(date_from=date_from, date_to=date_to)
        return attrs


class ReportCsvRenderer(BaseRenderer):
    """``?format=csv``: one line per row and a total line, with the page's headings;
    number columns hold numbers only, a count not shown is empty and flagged beside it
    (``intake.report_table``)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        out = io.StringIO()
        writer = csv.writer(out)
        if not isinstance(data, dict) or "rows" not in data:  # an error body
            writer.writerow(["code", "message"])
            writer.writerow([(data or {}).get("code", ""), (data or {}).get("message", "")])
            return out.getvalue().encode()
        writer.writerow(csv_header(data.get("group", "article")))
        for row in [*data["rows"], data["total"]]:
            fields = csv_fields(row, min_cell=data.get("min_cell", 0))
            writer.writerow([_csv_cell(value) for value in fields])
        return out.getvalue().encode()


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells starting with these as formulas; UTM values come from URLs.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class ArticleReportApi(APIView):
    """``GET /api/v1/reports/articles/``: the conversion funnel per article (or topic,
    campaign, source, week, month), aggregates only, for marketing, supervisors and
    admins. ``?format=csv`` for a spreadsheet."""

    permission_classes = [roles.HasRole.of(*REPORT_ROLES)]
    renderer_classes = [JSONRenderer, ReportCsvRenderer]

    @extend_schema(
        operation_id="reports_articles",
        summary="Conversion funnel per article, campaign, source, week or month",
        parameters=[
            ArticleReportQuerySerializer,
            OpenApiParameter(
                "format",
                str,
                OpenApiParameter.QUERY,
                required=False,
                enum=["json", "csv"],
                description="csv: the same rows as text/csv, one line each plus a total.",
            ),
        ],
        responses={
            (200, "application/json"): ArticleReportOutputSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The dashboard table's columns with its headings (Key, the "
                "grouping, counts, rates, times in seconds). Number columns hold numbers "
                'only: a count not shown is empty and its "<heading> suppressed" column '
                'says why ("fewer than 5" or "withheld").',
            ),
            400: OpenApiResponse(ErrorSerializer, "Invalid query parameters."),
            403: OpenApiResponse(
                ErrorSerializer, "Not signed in, or not marketing, supervisor or admin."
            ),
            404: OpenApiResponse(ErrorSerializer, "A format other than json or csv."),
        },
        extensions=server_rules(
            date_from="On or before date_to (default: today), at most three years before it."
        ),
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        query = ArticleReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        report = article_funnel_report(
            date_from=data["date_from"],
            date_to=data["date_to"],
            group=data["group"],
            attribution=data["attribution"],
            article_slug=data.get("article", ""),
        )
        report["form_abandonment"] = form_abandonment_report(
            date_from=data["date_from"],
            date_to=data["date_to"],
            article_slug=data.get("article", ""),
        )
        response = Response(ArticleReportOutputSerializer(report).data)
        if getattr(request.accepted_renderer, "format", "") == "csv":
            name = f"funnel-{data['group']}-{data['date_from']}-{data['date_to']}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "private, no-store"
        return response


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
        lead = lead_by_reference(reference=reference)
        if lead is None:
            return Response(
                {"code": "not_found", "message": "No request has this reference."},
                status=status.HTTP_404_NOT_FOUND,
            )
        lead_access_record(lead=lead, what="lead detail API", reference=reference)
        body = {
            **{field: getattr(lead, field) for field in LeadDetailOutputSerializer().fields},
            "phone": str(lead.phone) if lead.phone else "",
            "submissions": lead_submissions(lead_id=lead.pk),
            "consents": lead_consents(lead_id=lead.pk),
        }
        return Response(LeadDetailOutputSerializer(body).data)
