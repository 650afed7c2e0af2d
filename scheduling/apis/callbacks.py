"""The callback queue over HTTP, for integrations and the console's scripts."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.audit import events
from clinic.errors import ErrorSerializer
from clinic.openapi import NOT_FOUND, server_rules
from intake import selectors as intake_selectors
from intake.models import LEAD_READ, Lead
from scheduling import selectors, services
from scheduling.models import Appointment, CallAttempt, Callback

CARE = [roles.HasRole.of(roles.COORDINATOR, roles.SUPERVISOR)]
PAGE_SIZE = 50


def _leads_read(leads: QuerySet[Lead], *, what: str) -> None:
    """The audit trail: this answer carries these leads' personal data (names, notes).
    One event per lead, like the console's, in one INSERT whatever the page size, from
    ids already in hand (``pk__in``) or a join: nothing more is loaded per row."""
    events.events_record_for(leads, label=LEAD_READ, read=what)


def _lead_ids(rows: Iterable[Callback | Appointment]) -> QuerySet[Lead]:
    return intake_selectors.leads_by_ids(lead_ids=[row.lead_id for row in rows])


class CallbackOutputSerializer(serializers.ModelSerializer):
    lead_id = serializers.IntegerField()
    first_name = serializers.CharField(source="lead.first_name")
    preferred_channel = serializers.CharField(source="lead.preferred_channel")
    best_time = serializers.CharField(source="lead.best_time")
    article = serializers.CharField(source="submission.article.slug", allow_null=True, default=None)
    claimed_by = serializers.CharField(
        source="claimed_by.get_username", allow_null=True, default=None
    )
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Callback
        fields = [
            "id",
            "lead_id",
            "first_name",
            "preferred_channel",
            "best_time",
            "article",
            "status",
            "is_urgent",
            "patient_replied",
            "overdue",
            "due_at",
            "original_due_at",
            "retry_at",
            "unanswered_attempts",
            "claimed_by",
            "lease_expires_at",
            "created_at",
        ]

    def get_overdue(self, callback: Callback) -> bool:
        return callback.due_at < timezone.now()


def _when(value: datetime | None) -> str | None:
    """A time as DRF's ``DateTimeField`` writes it: ISO 8601 in the current zone (UTC
    here), "Z" for UTC."""
    if not value:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def callback_out(callback: Callback, *, now: datetime) -> dict[str, Any]:
    """``CallbackOutputSerializer(callback).data``, written out: the queue's page is
    polled by every console, and DRF's per-field machinery cost more than the page's
    queries (tests/scheduling/test_callbacks_api.py checks the two agree)."""
    lead = callback.lead
    article = callback.submission.article
    holder = callback.claimed_by
    return {
        "id": callback.pk,
        "lead_id": callback.lead_id,
        "first_name": str(lead.first_name),
        "preferred_channel": str(lead.preferred_channel),
        "best_time": str(lead.best_time),
        "article": None if article is None or article.slug is None else str(article.slug),
        "status": str(callback.status),
        "is_urgent": bool(callback.is_urgent),
        "patient_replied": bool(callback.patient_replied),
        "overdue": callback.due_at < now,
        "due_at": _when(callback.due_at),
        "original_due_at": _when(callback.original_due_at),
        "retry_at": _when(callback.retry_at),
        "unanswered_attempts": int(callback.unanswered_attempts),
        "claimed_by": None if holder is None else str(holder.get_username()),
        "lease_expires_at": _when(callback.lease_expires_at),
        "created_at": _when(callback.created_at),
    }


class CallbackPageSerializer(serializers.Serializer):
    results = CallbackOutputSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())


def _cursor_encode(callback: Callback) -> str:
    raw = json.dumps([callback.is_urgent, callback.original_due_at.isoformat(), callback.pk])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _cursor_decode(cursor: str) -> tuple[bool, datetime, int]:
    try:
        urgent, due, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return bool(urgent), datetime.fromisoformat(due), int(pk)
    except (ValueError, TypeError, binascii.Error) as error:
        raise ValidationError({"cursor": ["Invalid cursor."]}) from error


class QuerySerializer(serializers.Serializer):
    """A query string's filters, read as the schema states them: ``?status=`` (given,
    empty) is refused like any value that is not a choice, where DRF would read it as
    not given and answer as if no filter had been asked for."""

    def to_internal_value(self, data: Any) -> Any:
        blank = {
            name: ["May not be blank."]
            for name, field in self.fields.items()
            if name in data and data.get(name) == "" and not getattr(field, "allow_blank", False)
        }
        if blank:
            raise ValidationError(blank)
        return super().to_internal_value(data)


class CallbackListApi(APIView):
    """``GET /api/v1/callbacks/``: live callbacks in queue order, keyset-paginated."""

    permission_classes = CARE

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(
            choices=[Callback.Status.OPEN, Callback.Status.CLAIMED], required=False
        )
        urgent = serializers.BooleanField(required=False, allow_null=True, default=None)
        overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
        mine = serializers.BooleanField(required=False, default=False)
        cursor = serializers.CharField(required=False)

    @extend_schema(
        operation_id="callbacks_list",
        parameters=[FilterSerializer],
        responses={200: CallbackPageSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        extensions=server_rules(
            cursor="A `next_cursor` from an earlier page, as it came; any other value is refused."
        ),
        tags=["callbacks"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        # Keyset order: urgent first, then original due time, then id.
        queue = selectors.callback_queue_rows().order_by("-is_urgent", "original_due_at", "pk")
        now = timezone.now()
        if data.get("status"):
            queue = queue.filter(status=data["status"])
        if data.get("urgent") is not None:
            queue = queue.filter(is_urgent=data["urgent"])
        if data.get("overdue") is not None:
            queue = (
                queue.filter(due_at__lt=now) if data["overdue"] else queue.filter(due_at__gte=now)
            )
        if data["mine"]:
            queue = queue.filter(claimed_by=request.user)
        if data.get("cursor"):
            urgent, due, pk = _cursor_decode(data["cursor"])
            after = Q(original_due_at__gt=due) | Q(original_due_at=due, pk__gt=pk)
            queue = queue.filter(Q(is_urgent=urgent) & after | Q(is_urgent__lt=urgent))
        page = list(queue[: PAGE_SIZE + 1])
        next_cursor = _cursor_encode(page[PAGE_SIZE - 1]) if len(page) > PAGE_SIZE else None
        if page:
            _leads_read(_lead_ids(page[:PAGE_SIZE]), what="callbacks API")
        body = {
            "results": [callback_out(callback, now=now) for callback in page[:PAGE_SIZE]],
            "next_cursor": next_cursor,
            "counts": selectors.callback_queue_counts(),
        }
        return Response(body)


class CallbackClaimNextApi(APIView):
    """``POST /api/v1/callbacks/claim-next/``: take the best ready callback."""

    permission_classes = CARE

    @extend_schema(
        operation_id="callbacks_claim_next",
        request=None,
        responses={
            200: CallbackOutputSerializer,
            204: OpenApiResponse(description="Nothing is ready."),
            403: ErrorSerializer,
        },
        tags=["callbacks"],
    )
    def post(self, request: Request) -> Response:
        callback = services.callback_claim_next(user_id=request.user.pk)
        if callback is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        _leads_read(_lead_ids([callback]), what="callbacks API claim-next")
        callback = selectors.callback_queue_rows().get(pk=callback.pk)
        return Response(callback_out(callback, now=timezone.now()))


class CallbackReleaseApi(APIView):
    """``POST /api/v1/callbacks/{id}/release/``: give a claimed callback back."""

    permission_classes = CARE

    @extend_schema(
        operation_id="callbacks_release",
        request=None,
        responses={204: None, 403: ErrorSerializer, 404: NOT_FOUND, 409: ErrorSerializer},
        tags=["callbacks"],
    )
    def post(self, request: Request, callback_id: int) -> Response:
        if not services.callback_release(callback_id=callback_id, user_id=request.user.pk):
            return Response(
                {"code": "not_holder", "message": "You do not hold this callback."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AttemptInputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=CallAttempt.Outcome.choices,
        help_text="Only the holder of the claim logs. `booked` is logged by booking "
        "(the console's booking), not here.",
    )
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    call_back_at = serializers.DateTimeField(required=False, allow_null=True)
    confirm = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text="The outcome again, required for the closing outcomes (not_interested, "
        "wrong_number, do_not_contact).",
    )


class AttemptOutputSerializer(serializers.ModelSerializer):
    coordinator = serializers.CharField(source="coordinator.get_username")
    outcome = serializers.CharField(
        help_text="As the coordinator logged it; empty on an attempt a call logged by "
        "itself until its outcome is added (by logging one)."
    )
    result = serializers.CharField(
        help_text="How a call from the clinic's phone went (connected, no_answer, busy, "
        "voicemail, failed); empty on an attempt logged by hand."
    )

    class Meta:
        model = CallAttempt
        fields = [
            "id",
            "callback_id",
            "coordinator",
            "outcome",
            "notes",
            "call_back_at",
            "created_at",
            "result",
            "duration_seconds",
            "started_at",
            "answered_at",
        ]


class CallbackAttemptsApi(APIView):
    """``/api/v1/callbacks/{id}/attempts/``: the calls made, and logging a new one."""

    permission_classes = CARE

    @extend_schema(
        operation_id="callbacks_attempts_list",
        responses={
            200: AttemptOutputSerializer(many=True),
            403: ErrorSerializer,
            404: NOT_FOUND,
        },
        tags=["callbacks"],
    )
    def get(self, request: Request, callback_id: int) -> Response:
        callback = get_object_or_404(Callback, pk=callback_id)
        attempts = list(callback.attempts.select_related("coordinator").order_by("created_at"))
        if attempts:  # their notes are about the lead
            _leads_read(_lead_ids([callback]), what="call attempts API")
        return Response(AttemptOutputSerializer(attempts, many=True).data)

    @extend_schema(
        operation_id="callbacks_attempts_create",
        request=AttemptInputSerializer,
        responses={
            201: AttemptOutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: NOT_FOUND,
            409: ErrorSerializer,
        },
        extensions=server_rules(
            outcome="`booked` is logged by booking a consultation, never here; `voicemail` "
            "only for a person who allowed voicemails.",
            confirm="The outcome again for a closing outcome (not_interested, wrong_number, "
            "do_not_contact).",
            call_back_at="A future time, required with `call_back_later`.",
        ),
        tags=["callbacks"],
    )
    def post(self, request: Request, callback_id: int) -> Response:
        serializer = AttemptInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        attempt = services.attempt_log(
            callback_id=callback_id,
            user_id=request.user.pk,
            outcome=data["outcome"],
            notes=data.get("notes", ""),
            call_back_at=data.get("call_back_at"),
            confirm=data.get("confirm", ""),
        )
        _leads_read(_lead_ids([attempt.callback]), what="call attempts API")
        return Response(AttemptOutputSerializer(attempt).data, status=status.HTTP_201_CREATED)


class RefusalOutputSerializer(serializers.Serializer):
    channel = serializers.CharField(source="refusal.channel")
    where = serializers.CharField(help_text="Whose detail it refuses; never the value.")
    recorded_at = serializers.DateTimeField(source="refusal.recorded_at")
    recorded_by = serializers.CharField(
        source="refusal.recorded_by.get_username", allow_null=True, default=None
    )
    source = serializers.CharField(source="refusal.source")


class RefusalAcknowledgementOutputSerializer(serializers.Serializer):
    refusals = RefusalOutputSerializer(many=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True)


class CallbackRefusalAcknowledgeApi(APIView):
    """``POST /api/v1/callbacks/{id}/refusal/acknowledge/``: the refusals that make this
    callback "previously refused" (when, by whom, which channel) were read; calls may
    be logged on it (``attempts`` answers 409 ``refusal_unacknowledged`` until then)."""

    permission_classes = CARE

    @extend_schema(
        operation_id="callbacks_refusal_acknowledge",
        request=None,
        responses={
            200: RefusalAcknowledgementOutputSerializer,
            403: ErrorSerializer,
            404: NOT_FOUND,
        },
        tags=["callbacks"],
    )
    def post(self, request: Request, callback_id: int) -> Response:
        refusals = services.callback_refusal_acknowledge(
            callback_id=callback_id, user_id=request.user.pk
        )
        callback = Callback.objects.select_related("refusal_acknowledged_by").get(pk=callback_id)
        acknowledged_by = callback.refusal_acknowledged_by
        return Response(
            RefusalAcknowledgementOutputSerializer(
                {
                    "refusals": refusals.shown,
                    "acknowledged_at": callback.refusal_acknowledged_at,
                    "acknowledged_by": acknowledged_by.get_username() if acknowledged_by else None,
                }
            ).data
        )
