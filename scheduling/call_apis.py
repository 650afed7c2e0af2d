"""Calls from the clinic's phone over HTTP: ``POST /api/v1/callbacks/{id}/call/``
(click-to-call, the claimer only) and ``GET /api/v1/calls/{id}/`` (how it goes, for
the member of staff who placed it). Thin: ``services.click_to_call`` decides."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.errors import ErrorSerializer
from clinic.openapi import NOT_FOUND
from scheduling import selectors
from scheduling.models import Call
from scheduling.services import click_to_call

CARE = [roles.HasRole.of(roles.COORDINATOR, roles.SUPERVISOR)]


class CallInputSerializer(serializers.Serializer):
    via = serializers.ChoiceField(
        choices=["phone", "browser"],
        default="phone",
        required=False,
        help_text="`phone` (default): the clinic's phone rings your own verified phone "
        "first. `browser`: the call is stored for the console's softphone, which "
        "connects it through the TwiML App with the call's id (where TWILIO_API_KEY, "
        "TWILIO_API_SECRET and TWILIO_TWIML_APP_SID are set).",
    )


class CallPlacedOutputSerializer(serializers.Serializer):
    call = serializers.CharField(help_text="The call's id (for `GET /api/v1/calls/{id}/`).")
    status = serializers.ChoiceField(
        choices=["ringing"], help_text="Your own phone is being rung first."
    )


class CallbackCallApi(APIView):
    """``POST /api/v1/callbacks/{id}/call/``: ring the coordinator, then the person."""

    permission_classes = CARE

    @extend_schema(
        operation_id="callbacks_call",
        request=CallInputSerializer,
        responses={
            202: CallPlacedOutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: NOT_FOUND,
            409: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "Nothing was placed: `not_holder` (you do not hold this callback), "
                    "`callback_closed`, `phone_unverified` (set and verify your phone "
                    "first), `caller_id_missing` (no CLINIC_CALLER_ID), "
                    "`softphone_not_configured`, `refusal_unacknowledged`, `refused` (the "
                    "person asked not to be contacted), `no_phone`, `no_caller_id` "
                    "(discretion asked, no DISCREET_CALLER_ID), `call_in_progress`."
                ),
            ),
        },
        description=(
            "Click-to-call from the clinic's number: the clinic's phone rings your own "
            "verified phone, asks you to press 1, then dials the person from "
            "CLINIC_CALLER_ID (DISCREET_CALLER_ID where they asked for discretion). "
            "Neither number is shown to the other side. The call logs its own attempt "
            "(`GET /api/v1/callbacks/{id}/attempts/`); you add the outcome."
        ),
        tags=["callbacks"],
    )
    def post(self, request: Request, callback_id: int) -> Response:
        serializer = CallInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        call = click_to_call.callback_call_place(
            callback_id=callback_id,
            user_id=request.user.pk,
            browser=serializer.validated_data.get("via") == "browser",
        )
        return Response(
            {"call": str(call.pk), "status": "ringing"}, status=status.HTTP_202_ACCEPTED
        )


class CallProgressOutputSerializer(serializers.Serializer):
    call = serializers.CharField(source="call_id")
    status = serializers.ChoiceField(
        choices=["ringing", "connecting", "dialling", "connected", "ended", "failed"]
    )
    label = serializers.CharField(help_text="The status in words for the member of staff.")
    result = serializers.ChoiceField(
        choices=["", "connected", "no_answer", "busy", "voicemail", "failed"],
        help_text="The logged attempt's result once the person's leg ended; empty before.",
    )
    ended = serializers.BooleanField()


class CallApi(APIView):
    """``GET /api/v1/calls/{id}/``: how a call one placed goes."""

    permission_classes = CARE

    @extend_schema(
        operation_id="calls_retrieve",
        responses={
            200: CallProgressOutputSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        description="Only the member of staff whose phone the call rang sees it.",
        tags=["callbacks"],
    )
    def get(self, request: Request, call_id: int) -> Response:
        call = get_object_or_404(Call, pk=call_id, coordinator_id=request.user.pk)
        progress = selectors.call_progress(call=call)
        return Response(CallProgressOutputSerializer(progress).data)
