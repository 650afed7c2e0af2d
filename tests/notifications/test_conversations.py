"""One SMS thread per number, kept by every text either way, and the quiet-hours
exception for a reply within the hour of the person's own text."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps as django_apps

from clinic.crypto import phone_hash
from notifications import conversations
from notifications.models import InboundMessage, Message, SmsConversation
from notifications.quiet_hours import quiet_hours_apply, reply_answers_recent_text
from notifications.services import contact_erase, inbound_receive, message_send
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PHONE = "+12025550188"
# 23:30 in New York (a 202 number): inside quiet hours.
NIGHT = datetime(2026, 3, 4, 4, 30, tzinfo=UTC)


def _reply(**extra) -> Message:
    return message_send(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.REPLY,
        recipient=PHONE,
        template="coordinator_reply",
        context={"reply_text": "Are you free tomorrow?"},
        **extra,
    )


def test_an_inbound_text_opens_a_thread_with_one_unread():
    inbound_receive(provider_id="SMc1", sender=PHONE, body="Hi, can you call me?")

    thread = SmsConversation.objects.get(phone_hash=phone_hash(PHONE))
    assert thread.unread_count == 1
    assert thread.last_inbound_at is not None
    assert thread.last_message_at == thread.last_inbound_at


def test_texts_either_way_share_one_thread_in_order():
    user = UserFactory()
    inbound_receive(provider_id="SMc2", sender=PHONE, body="Hello")
    sent = _reply(sent_by_id=user.pk, correlation="lead:42")
    inbound_receive(provider_id="SMc3", sender=PHONE, body="Thanks")

    assert SmsConversation.objects.count() == 1
    thread = SmsConversation.objects.get()
    assert thread.lead_id == 42
    assert thread.unread_count == 2
    assert thread.last_outbound_at == sent.created_at
    texts = conversations.conversation_texts(conversation=thread)
    assert (texts[0].from_person, texts[0].body) == (True, "Hello")
    assert texts[1].from_person is False and texts[1].sent_by == user.username
    assert texts[2].body == "Thanks"
    assert Message.objects.get(pk=sent.pk).sent_by_id == user.pk


def test_keywords_are_in_the_thread_but_not_unread():
    inbound_receive(provider_id="SMc4", sender=PHONE, body="STOP")

    thread = SmsConversation.objects.get()
    assert thread.unread_count == 0
    assert thread.last_inbound_at is not None


def test_a_repeated_webhook_counts_once():
    inbound_receive(provider_id="SMc5", sender=PHONE, body="Hello")
    inbound_receive(provider_id="SMc5", sender=PHONE, body="Hello")

    assert SmsConversation.objects.get().unread_count == 1


def test_texts_to_staff_and_emails_are_no_conversation():
    message_send(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.STAFF_CODE,
        recipient=PHONE,
        template="staff_phone_code",
        context={"verification_code": "123456"},
    )
    message_send(
        channel=Message.Channel.EMAIL,
        purpose=Message.Purpose.REPLY,
        recipient="dana@example.org",
        template="coordinator_reply",
        context={"reply_text": "Hello"},
    )

    assert not SmsConversation.objects.exists()


def test_mark_read_clears_unread_and_assignment_holds_a_user():
    user = UserFactory()
    inbound_receive(provider_id="SMc6", sender=PHONE, body="Hello")
    thread = SmsConversation.objects.get()

    conversations.conversation_mark_read(conversation_id=thread.pk)
    conversations.conversation_assign(conversation_id=thread.pk, user_id=user.pk)

    thread.refresh_from_db()
    assert thread.unread_count == 0 and thread.last_read_at is not None
    assert thread.assigned_to_id == user.pk
    assert list(conversations.conversation_list(assigned_to_id=user.pk)) == [thread]
    assert list(conversations.conversation_list(unread=True)) == []
    assert list(conversations.conversation_list(unassigned=True)) == []


def test_last_texts_preview_the_newest_either_way():
    inbound_receive(provider_id="SMc7", sender=PHONE, body="First")
    _reply()
    thread = SmsConversation.objects.get()

    last = conversations.conversation_last_texts(conversations=[thread])

    assert last[thread.pk].from_person is False
    assert "Are you free tomorrow?" in last[thread.pk].body


# --- Quiet hours: a reply within the hour of the person's own text -----------------


@pytest.mark.parametrize(
    ("minutes", "at_once"), [(0, True), (59, True), (60, True), (61, False), (600, False)]
)
def test_a_reply_answers_the_person_only_within_the_hour(minutes, at_once):
    now = NIGHT
    assert (
        reply_answers_recent_text(last_text_at=now - timedelta(minutes=minutes), now=now) is at_once
    )


def test_a_reply_with_no_text_from_the_person_keeps_quiet_hours():
    assert quiet_hours_apply(purpose=Message.Purpose.REPLY, phone=PHONE, now=NIGHT) is True
    assert quiet_hours_apply(purpose=Message.Purpose.CONFIRMATION, phone=PHONE, now=NIGHT) is False
    assert quiet_hours_apply(purpose=Message.Purpose.REMINDER, phone=PHONE, now=NIGHT) is True


def test_a_night_reply_59_minutes_after_the_persons_text_goes_at_once():
    with time_machine.travel(NIGHT - timedelta(minutes=59), tick=False):
        inbound_receive(provider_id="SMq1", sender=PHONE, body="are you there?")
    with time_machine.travel(NIGHT, tick=False):
        message = _reply()

    assert message.status == Message.Status.PENDING
    assert message.send_after is None


def test_a_night_reply_61_minutes_after_the_persons_text_waits_for_morning():
    with time_machine.travel(NIGHT - timedelta(minutes=61), tick=False):
        inbound_receive(provider_id="SMq2", sender=PHONE, body="are you there?")
    with time_machine.travel(NIGHT, tick=False):
        message = _reply()

    assert message.status == Message.Status.SCHEDULED
    # 08:00 in New York the next morning.
    assert message.send_after == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


def test_a_daytime_reply_long_after_the_persons_text_goes_at_once():
    noon = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
    with time_machine.travel(noon - timedelta(hours=5), tick=False):
        inbound_receive(provider_id="SMq3", sender=PHONE, body="hello")
    with time_machine.travel(noon, tick=False):
        message = _reply()

    assert message.status == Message.Status.PENDING


# --- The backfill ------------------------------------------------------------------


def test_the_backfill_makes_threads_from_existing_texts():
    with time_machine.travel(NIGHT - timedelta(hours=2), tick=False):
        _reply(correlation="lead:7")
    with time_machine.travel(NIGHT - timedelta(hours=1), tick=False):
        inbound_receive(provider_id="SMb1", sender=PHONE, body="yes please")
    SmsConversation.objects.all().delete()

    backfill = importlib.import_module(
        "notifications.migrations.0015_sms_conversations_backfill"
    ).backfill
    backfill(django_apps, None)

    thread = SmsConversation.objects.get()
    assert thread.phone_hash == phone_hash(PHONE)
    assert thread.lead_id == 7
    assert thread.unread_count == 1
    assert thread.last_message_at == InboundMessage.objects.get().received_at


def test_forgetting_a_number_removes_its_thread():
    inbound_receive(provider_id="SMe1", sender=PHONE, body="Hello")
    other = "+12025550189"
    inbound_receive(provider_id="SMe2", sender=other, body="Hi")

    counts = contact_erase(phones=[PHONE], emails=[])

    assert counts["conversations"] == 1
    assert list(SmsConversation.objects.values_list("phone", flat=True)) == [other]
