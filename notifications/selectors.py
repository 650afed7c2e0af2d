"""Reading messages: the dev outbox, a lead's timeline, the sweep."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from config.crypto import phone_hash
from notifications.models import InboundCall, InboundMessage, Message, OptOut


def message_list(*, correlation: str = "", limit: int = 200) -> QuerySet[Message]:
    messages = Message.objects.order_by("-created_at")
    if correlation:
        messages = messages.filter(correlation=correlation)
    return messages[:limit]


def message_sent_recently(*, channel: str, purpose: str, recipient: str, since: datetime) -> bool:
    """Whether a message of this kind went (or is going) to ``recipient`` since ``since``."""
    return (
        Message.objects.filter(
            channel=channel, purpose=purpose, recipient=recipient, created_at__gte=since
        )
        .exclude(status__in=[Message.Status.FAILED, Message.Status.SUPPRESSED])
        .exists()
    )


def message_ids_stuck(*, older_than: datetime, limit: int = 500) -> dict[str, list[int]]:
    """Messages a worker should have finished by now: ``due`` ones never picked up
    (pending, or scheduled and past their time or their next try, or past their retry
    budget) and ``sending`` ones whose worker died."""
    now = timezone.now()
    scheduled_due = (
        Q(status=Message.Status.SCHEDULED)
        & (Q(send_after__isnull=False) | Q(next_attempt_at__isnull=False))
        & ~Q(send_after__gt=now)
        & ~Q(next_attempt_at__gt=now)
    )
    due = Message.objects.filter(
        Q(status=Message.Status.PENDING, created_at__lt=older_than)
        | scheduled_due
        | Q(status__in=[Message.Status.PENDING, Message.Status.SCHEDULED], give_up_at__lte=now)
    ).order_by("created_at")
    sending = Message.objects.filter(status=Message.Status.SENDING, sending_at__lt=older_than)
    return {
        "due": list(due.values_list("pk", flat=True)[:limit]),
        "sending": list(sending.values_list("pk", flat=True)[:limit]),
    }


def inbound_get(*, inbound_id: int) -> InboundMessage | None:
    return InboundMessage.objects.filter(pk=inbound_id).first()


def inbound_list(*, phone: str, limit: int = 50) -> QuerySet[InboundMessage]:
    hashed = phone_hash(phone)
    if not hashed:
        return InboundMessage.objects.none()
    return InboundMessage.objects.filter(sender_hash=hashed).order_by("-received_at")[:limit]


def sms_block_get(*, phone: str) -> OptOut | None:
    """Why no SMS may go to ``phone`` (opted out, carrier opt-out, unusable), if so."""
    hashed = phone_hash(phone)
    return OptOut.objects.filter(phone_hash=hashed).first() if hashed else None


def messages_undelivered(*, correlation: str, limit: int = 20) -> QuerySet[Message]:
    """Messages about ``correlation`` that will not reach the person (failed for good,
    or the carrier reported them undelivered), newest first: for staff to follow up."""
    if not correlation:
        return Message.objects.none()
    return (
        Message.objects.filter(
            correlation=correlation,
            status__in=[Message.Status.FAILED, Message.Status.UNDELIVERED],
        )
        .exclude(purpose__in=[Message.Purpose.STAFF_ALERT, Message.Purpose.STAFF_CODE])
        .order_by("-failed_at", "-pk")[:limit]
    )


def message_get(*, message_id: int) -> Message | None:
    return Message.objects.filter(pk=message_id).first()


def message_exists(*, dedupe_key: str) -> bool:
    return Message.objects.filter(dedupe_key=dedupe_key).exists()


def call_get(*, call_id: int) -> InboundCall | None:
    return InboundCall.objects.filter(pk=call_id).first()
