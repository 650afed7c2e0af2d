"""A member of staff's own phone for the clinic's calls, and their availability for
instant calls, over HTTP (``/api/v1/me/...``). Care staff only; each acts on the
signed-in user's own settings, never anyone else's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.errors import ApplicationError, ErrorSerializer
from clinic.openapi import server_rules
from scheduling import selectors
from scheduling.models import StaffCallSettings
from scheduling.services import call_settings, click_to_call

CARE = [roles.HasRole.of(roles.COORDINATOR, roles.SUPERVISOR)]
TAGS = ["me"]


class CallSettingsOutputSerializer(serializers.Serializer):
    phone = serializers.CharField(
        allow_blank=True, help_text="Your phone for the clinic's calls, E.164; empty if none."
    )
    verified = serializers.BooleanField(help_text="Confirmed with the code texted to it.")
    verified_at = serializers.DateTimeField(allow_null=True)
    available = serializers.BooleanField(help_text="Taking instant calls for new requests.")
    available_since = serializers.DateTimeField(allow_null=True)
    code_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the code last texted stops working; null if none."
    )


def _settings_body(row: StaffCallSettings | None) -> dict:
    if row is None:
        row = StaffCallSettings()
    return CallSettingsOutputSerializer(
        {
            "phone": row.phone,
            "verified": row.verified_at is not None,
            "verified_at": row.verified_at,
            "available": row.available,
            "available_since": row.available_since,
            "code_expires_at": row.code_expires_at if row.code_hash else None,
        }
    ).data


class MePhoneInputSerializer(serializers.Serializer):
    phone = serializers.CharField(
        max_length=40, help_text="Your own mobile number; a code is texted to it."
    )


class MePhoneVerifyInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=20, help_text="The 6-digit code from the text.")


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only, as the schema's ``boolean`` says: DRF's own
    field also takes ``1``, ``"yes"`` or ``"off"``."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class MeAvailabilityInputSerializer(serializers.Serializer):
    available = StrictBooleanField()


class MePhoneApi(APIView):
    """``/api/v1/me/phone/``: your phone for the clinic's calls."""

    permission_classes = CARE

    @extend_schema(
        operation_id="me_phone_get",
        responses={200: CallSettingsOutputSerializer, 403: ErrorSerializer},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(_settings_body(selectors.staff_call_settings_get(user_id=request.user.pk)))

    @extend_schema(
        operation_id="me_phone_set",
        request=MePhoneInputSerializer,
        responses={
            200: CallSettingsOutputSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Not a number you may use."),
            403: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="A code was sent seconds ago."),
        },
        description=(
            "Store the number as yours, unconfirmed (and unavailable for instant calls), "
            "and text it a 6-digit code that works for 10 minutes. Your confirmed number, "
            "given again, changes nothing."
        ),
        extensions=server_rules(
            phone="A valid number that takes texts, in SMS_ALLOWED_COUNTRIES, not one of the "
            "clinic's own lines."
        ),
        tags=TAGS,
    )
    def put(self, request: Request) -> Response:
        serializer = MePhoneInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = call_settings.staff_phone_set(
            user_id=request.user.pk, phone=serializer.validated_data["phone"]
        )
        return Response(_settings_body(row))


class MePhoneVerifyApi(APIView):
    """``POST /api/v1/me/phone/verify/``: confirm your phone with the code texted to it."""

    permission_classes = CARE

    @extend_schema(
        operation_id="me_phone_verify",
        request=MePhoneVerifyInputSerializer,
        extensions=server_rules(
            code="The 6 digits last texted to your phone, within 10 minutes and 5 tries."
        ),
        responses={
            200: CallSettingsOutputSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "Wrong (code_wrong), expired (code_expired), past 5 wrong tries "
                    "(code_locked), none pending (no_code) or already confirmed "
                    "(already_verified); nothing changes but the count of tries."
                ),
            ),
            403: ErrorSerializer,
        },
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        serializer = MePhoneVerifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = call_settings.staff_phone_verify(
            user_id=request.user.pk, code=serializer.validated_data["code"]
        )
        return Response(_settings_body(row))


class MeAvailabilityApi(APIView):
    """``PUT /api/v1/me/availability/``: take instant calls for new requests, or stop."""

    permission_classes = CARE

    @extend_schema(
        operation_id="me_availability_set",
        request=MeAvailabilityInputSerializer,
        extensions=server_rules(available="`true` only once your phone is confirmed."),
        responses={
            200: CallSettingsOutputSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="No confirmed phone (phone_not_verified)."
            ),
            403: ErrorSerializer,
        },
        tags=TAGS,
    )
    def put(self, request: Request) -> Response:
        serializer = MeAvailabilityInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = call_settings.staff_availability_set(
            user_id=request.user.pk, available=serializer.validated_data["available"]
        )
        return Response(_settings_body(row))


# A browser softphone's access token lives this long; the Voice SDK asks for a new one
# before it expires (its tokenWillExpire event).
VOICE_TOKEN_TTL_SECONDS = 300


class VoiceTokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="A Twilio access token (JWT) with a voice grant.")
    identity = serializers.CharField(help_text="Who the browser is to Twilio (no name).")
    expires_at = serializers.DateTimeField()


class MeVoiceTokenApi(APIView):
    """``POST /api/v1/me/voice-token/``: an access token for the browser softphone."""

    permission_classes = CARE

    @extend_schema(
        operation_id="me_voice_token",
        request=None,
        responses={
            200: VoiceTokenOutputSerializer,
            403: ErrorSerializer,
            404: OpenApiResponse(
                ErrorSerializer, description="No softphone is set up (softphone_not_configured)."
            ),
        },
        description=(
            "A Twilio Voice access token for the console's browser softphone, minted for "
            "you for 5 minutes: outgoing calls through the clinic's TwiML App only, no "
            "incoming calls. Only where TWILIO_API_KEY, TWILIO_API_SECRET and "
            "TWILIO_TWIML_APP_SID are set."
        ),
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        from twilio.jwt.access_token import AccessToken
        from twilio.jwt.access_token.grants import VoiceGrant

        if not (
            settings.TWILIO_API_KEY and settings.TWILIO_API_SECRET and settings.TWILIO_TWIML_APP_SID
        ):
            raise ApplicationError(
                "No browser softphone is set up: calls ring your phone instead.",
                code="softphone_not_configured",
                status_code=404,
            )
        # The user's id, never a name: Twilio's logs and the TwiML App see this.
        identity = click_to_call.softphone_identity(user_id=request.user.pk)
        now = timezone.now()
        token = AccessToken(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_API_KEY,
            settings.TWILIO_API_SECRET,
            identity=identity,
            ttl=VOICE_TOKEN_TTL_SECONDS,
            nbf=int(now.timestamp()),
        )
        token.add_grant(
            VoiceGrant(outgoing_application_sid=settings.TWILIO_TWIML_APP_SID, incoming_allow=False)
        )
        return Response(
            VoiceTokenOutputSerializer(
                {
                    "token": token.to_jwt(),
                    "identity": identity,
                    "expires_at": now + timedelta(seconds=VOICE_TOKEN_TTL_SECONDS),
                }
            ).data,
            headers={"Cache-Control": "no-store"},
        )
