from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Message

pytestmark = pytest.mark.django_db


def reminder(django_capture_on_commit_callbacks, *, key: str, in_hours: float) -> Message:
    with django_capture_on_commit_callbacks(execute=True):
        return services.message_send(
            channel=Message.Channel.EMAIL,
            purpose=Message.Purpose.REMINDER,
            recipient="maria@example.com",
            template="confirmation",
            context={"callback_window": "tomorrow"},
            dedupe_key=key,
            send_after=timezone.now() + timedelta(hours=in_hours),
        )


def test_it_suppresses_the_unsent_messages_under_the_prefix_only(
    mailoutbox, django_capture_on_commit_callbacks
):
    sent = reminder(
        django_capture_on_commit_callbacks, key="appointment-reminder:7:24h", in_hours=0
    )
    due = reminder(django_capture_on_commit_callbacks, key="appointment-reminder:7:2h", in_hours=5)
    other = reminder(
        django_capture_on_commit_callbacks, key="appointment-reminder:70:2h", in_hours=5
    )
    assert Message.objects.get(pk=sent.pk).status == Message.Status.SENT
    assert due.status == Message.Status.SCHEDULED

    assert services.messages_cancel(dedupe_key_prefix="appointment-reminder:7:") == 1

    due.refresh_from_db()
    assert (due.status, due.error_code) == (Message.Status.SUPPRESSED, "cancelled")
    assert Message.objects.get(pk=sent.pk).status == Message.Status.SENT
    assert Message.objects.get(pk=other.pk).status == Message.Status.SCHEDULED
    assert services.message_deliver(message_id=due.pk) is None
    assert len(mailoutbox) == 1


def test_an_empty_prefix_cancels_nothing(django_capture_on_commit_callbacks):
    due = reminder(django_capture_on_commit_callbacks, key="appointment-reminder:8:2h", in_hours=5)

    assert services.messages_cancel(dedupe_key_prefix="") == 0

    due.refresh_from_db()
    assert due.status == Message.Status.SCHEDULED
