"""The waitlist over HTTP, for coordinators and supervisors: a lead's place on it
(``/api/v1/leads/{reference}/waitlist/``), everyone waiting in order
(``/api/v1/waitlist/``), and taking someone off (``/api/v1/waitlist/{id}/remove/``).
A coordinator's note may name the person: it is encrypted at rest and every answer
carrying it is on the audit trail."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.errors import ErrorSerializer, error_body
from clinic.openapi import FORBIDDEN, INVALID, NOT_FOUND, server_rules
from intake import selectors as intake_selectors
from scheduling.apis.callbacks import CARE, _lead_ids, _leads_read
from scheduling.apis.consultations import SlotOutputSerializer
from scheduling.models import Appointment, WaitlistEntry
from scheduling.selectors import waitlist as waitlist_selectors
from scheduling.services import waitlist


class WaitlistInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=[], help_text="One of WAITLIST_REASONS.")
    earliest_date = serializers.DateField(
        required=False, help_text="The first day (clinic time) the person can come; default today."
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=waitlist.NOTE_MAX,
        help_text="The coordinator's own words (encrypted at rest).",
    )
    modality = serializers.ChoiceField(
        choices=Appointment.Modality.choices,
        required=False,
        allow_blank=True,
        help_text="How the person wants to meet; default: the clinic's.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = waitlist_selectors.waitlist_reasons()
        field = self.fields["reason"]
        field.choices = choices
        field.error_messages["invalid_choice"] = (
            f"Choose one of: {', '.join(value for value, _label in choices)}."
        )


class WaitlistEntryOutputSerializer(serializers.ModelSerializer):
    first_name = serializers.CharField(source="lead.first_name")
    created_by = serializers.CharField(
        source="created_by.get_username", allow_null=True, default=None
    )
    offer_reachable = serializers.SerializerMethodField(
        help_text="Offers can be texted: a verified phone that takes texts, with consent."
    )

    class Meta:
        model = WaitlistEntry
        fields = [
            "id",
            "lead_id",
            "first_name",
            "reason",
            "note",
            "earliest_date",
            "modality",
            "status",
            "created_by",
            "created_at",
            "closed_at",
            "offer_reachable",
        ]

    def get_offer_reachable(self, entry: WaitlistEntry) -> bool:
        return waitlist_selectors.lead_offer_reachable(lead_id=entry.lead_id)


class BookInsteadSerializer(ErrorSerializer):
    """A 400 when a time is open in the person's window: the first open times."""

    next_slots = SlotOutputSerializer(many=True)


class LeadWaitlistApi(APIView):
    """``/api/v1/leads/{reference}/waitlist/``: the lead's waitlist entries (newest
    first), and putting the lead on the waitlist."""

    permission_classes = CARE

    @extend_schema(
        operation_id="leads_waitlist_list",
        responses={
            200: WaitlistEntryOutputSerializer(many=True),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
        tags=["waitlist"],
    )
    def get(self, request: Request, reference: str) -> Response:
        lead = intake_selectors.lead_of_reference(reference=reference)
        entries = list(
            waitlist_selectors.lead_waitlist_entries(lead_id=lead.pk).select_related(
                "lead", "created_by"
            )
        )
        if entries:
            _leads_read(_lead_ids(entries), what="waitlist API")
        return Response(WaitlistEntryOutputSerializer(entries, many=True).data)

    @extend_schema(
        operation_id="leads_waitlist_create",
        request=WaitlistInputSerializer,
        responses={
            201: WaitlistEntryOutputSerializer,
            400: BookInsteadSerializer,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: ErrorSerializer,
        },
        extensions=server_rules(
            earliest_date="Today (clinic time) to a year ahead; with no time open within "
            "WAITLIST_AFTER_DAYS of it (else 400 `book_instead` with the open times).",
        ),
        tags=["waitlist"],
    )
    def post(self, request: Request, reference: str) -> Response:
        lead = intake_selectors.lead_of_reference(reference=reference)
        serializer = WaitlistInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        checked = waitlist.waitlist_check(
            reason=data["reason"],
            earliest_date=data.get("earliest_date"),
            note=data.get("note", ""),
            modality=data.get("modality", ""),
        )
        try:
            entry = waitlist.waitlist_add(
                lead_id=lead.pk, request=checked, added_by_id=request.user.pk
            )
        except waitlist.BookInstead as error:
            body = {
                **error_body(error.code, error.message, error.fields),
                "next_slots": SlotOutputSerializer(error.next_slots, many=True).data,
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        entry = WaitlistEntry.objects.select_related("lead", "created_by").get(pk=entry.pk)
        _leads_read(_lead_ids([entry]), what="waitlist API")
        return Response(WaitlistEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)


class WaitlistListApi(APIView):
    """``GET /api/v1/waitlist/``: everyone waiting, in waitlist order (first added,
    first offered)."""

    permission_classes = CARE

    @extend_schema(
        operation_id="waitlist_list",
        responses={200: WaitlistEntryOutputSerializer(many=True), 403: FORBIDDEN},
        tags=["waitlist"],
    )
    def get(self, request: Request) -> Response:
        entries = list(waitlist_selectors.waitlist_entries_live()[:500])
        if entries:
            _leads_read(_lead_ids(entries), what="waitlist API")
        return Response(WaitlistEntryOutputSerializer(entries, many=True).data)


class WaitlistRemoveApi(APIView):
    """``POST /api/v1/waitlist/{id}/remove/``: take the person off the waitlist."""

    permission_classes = CARE

    @extend_schema(
        operation_id="waitlist_remove",
        request=None,
        responses={
            200: WaitlistEntryOutputSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: ErrorSerializer,
        },
        tags=["waitlist"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        get_object_or_404(WaitlistEntry, pk=entry_id)
        if not waitlist.waitlist_remove(entry_id=entry_id, removed_by_id=request.user.pk):
            return Response(
                {"code": "not_waiting", "message": "This person is not on the waitlist."},
                status=status.HTTP_409_CONFLICT,
            )
        entry = WaitlistEntry.objects.select_related("lead", "created_by").get(pk=entry_id)
        _leads_read(_lead_ids([entry]), what="waitlist API")
        return Response(WaitlistEntryOutputSerializer(entry).data)
