"""The staff API of consultations: free slots, booking, and marking what happened."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.errors import ErrorSerializer, error_body
from clinic.openapi import NOT_FOUND, server_rules
from intake import selectors as intake_selectors
from scheduling import selectors, services
from scheduling.apis.callbacks import CARE, QuerySerializer, _lead_ids, _leads_read
from scheduling.models import Appointment


class SlotOutputSerializer(serializers.Serializer):
    clinician_id = serializers.IntegerField()
    clinician_name = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class SlotListApi(APIView):
    """``GET /api/v1/slots/``: free consultation times (default: the next 7 days)."""

    permission_classes = CARE

    class FilterSerializer(QuerySerializer):
        clinician = serializers.IntegerField(required=False)
        start = serializers.DateTimeField(required=False)
        end = serializers.DateTimeField(required=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            start = attrs.get("start") or timezone.now()
            end = attrs.get("end") or start + timedelta(days=7)
            if end <= start:
                raise ValidationError({"end": ["Must be after start."]})
            if end - start > timedelta(days=62):
                raise ValidationError({"end": ["At most 62 days at a time."]})
            return {**attrs, "start": start, "end": end}

    @extend_schema(
        operation_id="slots_list",
        parameters=[FilterSerializer],
        responses={
            200: SlotOutputSerializer(many=True),
            400: ErrorSerializer,
            403: ErrorSerializer,
        },
        extensions=server_rules(
            end="After `start` (default: now) and at most 62 days after it (default: "
            "`start` plus 7 days)."
        ),
        tags=["consultations"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        slots = selectors.slots_available(
            start=data["start"], end=data["end"], clinician_id=data.get("clinician")
        )
        return Response(SlotOutputSerializer(slots, many=True).data)


class AppointmentOutputSerializer(serializers.ModelSerializer):
    first_name = serializers.CharField(source="lead.first_name")
    clinician = serializers.CharField(source="clinician.name")

    class Meta:
        model = Appointment
        fields = [
            "id",
            "lead_id",
            "first_name",
            "clinician_id",
            "clinician",
            "starts_at",
            "ends_at",
            "status",
            "modality",
            "video_url",
            "created_at",
            "confirmed_at",
            "cancelled_at",
            "moved_at",
        ]


class AppointmentBookedOutputSerializer(AppointmentOutputSerializer):
    """A new booking, and where its confirmation went: only to details the person
    proved, so possibly nowhere (``notice`` then says what to do)."""

    confirmation_sent_to = serializers.ListField(
        child=serializers.ChoiceField(choices=["sms", "email"]),
        help_text="Channels the booking confirmation went by (verified details only).",
    )
    notice = serializers.CharField(
        help_text="Empty, or why the confirmation went nowhere and what to do."
    )

    class Meta(AppointmentOutputSerializer.Meta):
        fields = [*AppointmentOutputSerializer.Meta.fields, "confirmation_sent_to", "notice"]


class AppointmentInputSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    clinician_id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    modality = serializers.ChoiceField(
        choices=Appointment.Modality.choices,
        required=False,
        help_text="In person, video (a join link of its own) or phone; default: the clinic's.",
    )


class AppointmentMoveInputSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    clinician_id = serializers.IntegerField(
        required=False, help_text="Another clinician; default: the appointment's own."
    )


class SlotTakenSerializer(ErrorSerializer):
    """A 409 for a time that is not free: the next open times to offer instead."""

    next_slots = SlotOutputSerializer(many=True)


def _slot_taken(error: services.SlotTaken) -> Response:
    body = {
        **error_body(error.code, error.message, error.fields),
        "next_slots": SlotOutputSerializer(error.next_slots, many=True).data,
    }
    return Response(body, status=status.HTTP_409_CONFLICT)


class AppointmentListApi(APIView):
    """``/api/v1/appointments/``: upcoming consultations, and booking one."""

    permission_classes = CARE

    @extend_schema(
        operation_id="appointments_list",
        responses={200: AppointmentOutputSerializer(many=True), 403: ErrorSerializer},
        tags=["consultations"],
    )
    def get(self, request: Request) -> Response:
        appointments = list(selectors.appointments_upcoming()[:500])
        if appointments:
            _leads_read(_lead_ids(appointments), what="appointments API")
        return Response(AppointmentOutputSerializer(appointments, many=True).data)

    @extend_schema(
        operation_id="appointments_create",
        request=AppointmentInputSerializer,
        responses={
            201: AppointmentBookedOutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            409: SlotTakenSerializer,
        },
        extensions=server_rules(
            lead_id="An existing lead.",
            clinician_id="An active clinician.",
        ),
        tags=["consultations"],
    )
    def post(self, request: Request) -> Response:
        serializer = AppointmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not intake_selectors.lead_exists(lead_id=data["lead_id"]):
            raise ValidationError({"lead_id": ["Unknown lead."]})
        try:
            appointment = services.appointment_book(
                lead_id=data["lead_id"],
                clinician_id=data["clinician_id"],
                starts_at=data["starts_at"],
                booked_by_id=request.user.pk,
                modality=data.get("modality"),
            )
        except services.SlotTaken as error:
            return _slot_taken(error)
        _leads_read(_lead_ids([appointment]), what="appointments API")
        appointment = selectors.appointment_get(appointment_id=appointment.pk)
        body = {
            **AppointmentOutputSerializer(appointment).data,
            "confirmation_sent_to": selectors.appointment_booking_sent_to(
                appointment_id=appointment.pk
            ),
            "notice": selectors.appointment_booking_notice(appointment_id=appointment.pk),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class AppointmentActionApi(APIView):
    """``POST /api/v1/appointments/{id}/{action}/``: cancel, attended or no-show."""

    permission_classes = CARE

    @extend_schema(
        operation_id="appointments_action",
        request=None,
        responses={
            200: AppointmentOutputSerializer,
            403: ErrorSerializer,
            404: NOT_FOUND,
            409: ErrorSerializer,
        },
        tags=["consultations"],
    )
    def post(self, request: Request, appointment_id: int, action: str) -> Response:
        get_object_or_404(Appointment, pk=appointment_id)
        if action == "cancel":
            if not services.appointment_cancel(
                appointment_id=appointment_id, by_person=False, cancelled_by_id=request.user.pk
            ):
                return Response(
                    {
                        "code": "not_active",
                        "message": "Only a booked appointment can be cancelled.",
                    },
                    status=status.HTTP_409_CONFLICT,
                )
        else:
            services.appointment_mark(appointment_id=appointment_id, attended=action == "attended")
        appointment = selectors.appointment_get(appointment_id=appointment_id)
        _leads_read(_lead_ids([appointment]), what="appointments API")
        return Response(AppointmentOutputSerializer(appointment).data)


class AppointmentMoveApi(APIView):
    """``POST /api/v1/appointments/{id}/move/``: another time (and clinician), in one
    conditional write; the person gets the new time and a calendar update, and the
    old time's reminders are cancelled."""

    permission_classes = CARE

    @extend_schema(
        operation_id="appointments_move",
        request=AppointmentMoveInputSerializer,
        responses={
            200: AppointmentOutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: NOT_FOUND,
            409: SlotTakenSerializer,
        },
        extensions=server_rules(
            starts_at="An open time of the clinician (409 with the next open times otherwise).",
            clinician_id="An active clinician.",
        ),
        tags=["consultations"],
    )
    def post(self, request: Request, appointment_id: int) -> Response:
        get_object_or_404(Appointment, pk=appointment_id)
        serializer = AppointmentMoveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            services.appointment_move(
                appointment_id=appointment_id,
                starts_at=data["starts_at"],
                clinician_id=data.get("clinician_id"),
                moved_by_id=request.user.pk,
            )
        except services.SlotTaken as error:
            return _slot_taken(error)
        appointment = selectors.appointment_get(appointment_id=appointment_id)
        _leads_read(_lead_ids([appointment]), what="appointments API")
        return Response(AppointmentOutputSerializer(appointment).data)
