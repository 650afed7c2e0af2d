"""The text inbox over HTTP, for care staff: the threads (no texts in the list), one
thread's texts, and a reply that keeps every rule a text keeps."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import roles
from clinic.errors import ApplicationError, ErrorSerializer
from intake import selectors as intake_selectors
from intake import services as intake_services
from notifications import conversations
from notifications.models import SmsConversation
from scheduling.apis.callbacks import QuerySerializer
from scheduling.services import inbox

CARE = [roles.HasRole.of(roles.COORDINATOR, roles.SUPERVISOR)]
PAGE_SIZE = 50


class ConversationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    lead_id = serializers.IntegerField(allow_null=True)
    unread_count = serializers.IntegerField()
    is_urgent = serializers.BooleanField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    last_inbound_at = serializers.DateTimeField(allow_null=True)
    assigned_to = serializers.CharField(
        source="assigned_to.get_username", allow_null=True, default=None
    )


class ConversationPageSerializer(serializers.Serializer):
    results = ConversationOutputSerializer(many=True)
    next_page = serializers.IntegerField(allow_null=True)
    unread_threads = serializers.IntegerField()


class TextOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    direction = serializers.SerializerMethodField()
    body = serializers.CharField()
    status = serializers.CharField(help_text="Ours only: pending, scheduled, sent, ...")
    scheduled_for = serializers.DateTimeField(allow_null=True)
    sent_by = serializers.CharField(help_text="Ours, typed by staff: their username.")
    kind = serializers.CharField(help_text="Theirs only: reply, opt_out, opt_in, help, ...")

    def get_direction(self, text: conversations.ThreadText) -> str:
        return "inbound" if text.from_person else "outbound"


class ThreadOutputSerializer(ConversationOutputSerializer):
    texts = TextOutputSerializer(many=True)


def _thread(conversation_id: int) -> SmsConversation:
    thread = conversations.conversation_get(conversation_id=conversation_id)
    if thread is None:
        raise ApplicationError("No such conversation.", code="not_found", status_code=404)
    return thread


class InboxListApi(APIView):
    """``GET /api/v1/inbox/``: SMS threads, urgent first, then newest; no texts."""

    permission_classes = CARE

    class FilterSerializer(QuerySerializer):
        show = serializers.ChoiceField(
            choices=["all", "mine", "unassigned", "unread"], required=False, default="all"
        )
        page = serializers.IntegerField(min_value=1, required=False, default=1)

    @extend_schema(
        operation_id="inbox_list",
        parameters=[FilterSerializer],
        responses={200: ConversationPageSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        tags=["inbox"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        show, page = filters.validated_data["show"], filters.validated_data["page"]
        threads = conversations.conversation_list(
            assigned_to_id=request.user.pk if show == "mine" else None,
            unassigned=show == "unassigned",
            unread=show == "unread",
        )
        start = (page - 1) * PAGE_SIZE
        rows = list(threads[start : start + PAGE_SIZE + 1])
        body = {
            "results": ConversationOutputSerializer(rows[:PAGE_SIZE], many=True).data,
            "next_page": page + 1 if len(rows) > PAGE_SIZE else None,
            "unread_threads": conversations.conversations_unread_count(),
        }
        return Response(body)


class InboxThreadApi(APIView):
    """``GET /api/v1/inbox/{id}/``: one thread and its texts, oldest first. Reading it
    marks it read and is on the audit trail."""

    permission_classes = CARE

    @extend_schema(
        operation_id="inbox_thread",
        responses={200: ThreadOutputSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        tags=["inbox"],
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        thread = _thread(conversation_id)
        texts = conversations.conversation_texts(conversation=thread)
        conversations.conversation_access_record(conversation=thread, what="inbox API")
        if thread.lead_id:
            lead = intake_selectors.lead_get(lead_id=thread.lead_id)
            if lead is not None:
                intake_services.lead_access_record(lead=lead, what="inbox API")
        conversations.conversation_mark_read(conversation_id=thread.pk)
        thread.unread_count = 0
        thread.texts = texts
        return Response(ThreadOutputSerializer(thread).data)


class InboxReplyApi(APIView):
    """``POST /api/v1/inbox/{id}/reply/`` ``{"body"}``: text the person. ``201`` with the
    message's id and status (``scheduled`` with ``send_after`` when quiet hours hold
    it); ``400`` with a field error on ``body`` for health words, length, a refusal,
    an opt-out or no consent to texts."""

    permission_classes = CARE

    class InputSerializer(serializers.Serializer):
        body = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=True)

    class OutputSerializer(serializers.Serializer):
        message = serializers.IntegerField(source="pk")
        status = serializers.CharField()
        send_after = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="inbox_reply",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["inbox"],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        thread = _thread(conversation_id)
        message = inbox.conversation_reply(
            conversation_id=thread.pk, user_id=request.user.pk, body=data.validated_data["body"]
        )
        return Response(self.OutputSerializer(message).data, status=status.HTTP_201_CREATED)
