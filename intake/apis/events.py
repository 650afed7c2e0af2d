"""The call to action's anonymous beacons, ``POST /api/v1/events/``, and what the embed
shows, ``GET /api/v1/cta/``. Public, no cookies."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.cache import patch_cache_control
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.errors import ErrorSerializer
from clinic.openapi import server_rules
from intake.apis import ERRORS, PublicApi
from intake.apis.leads import CrisisResourceSerializer
from intake.models import CtaEventType, CtaFormField
from intake.parsers import BoundedJSONParser, PlainTextJSONParser
from intake.selectors import cta_config
from intake.services import (
    cta_event_record,
)
from intake.services.events import EventThrottled
from intake.throttles import (
    CtaConfigIpThrottle,
    client_ip,
)


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
    insurance_payers = CtaChoiceSerializer(
        many=True,
        help_text="The payers the form may offer under More options (insurance_payer), "
        "self_pay last.",
    )
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
