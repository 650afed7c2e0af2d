"""A text that gets no SMS token is put back, not held in its worker: it is not
counted as a try, its retry budget is untouched, and it goes once a token is free.

The pacer here is the in-process bucket under a frozen clock (time-machine), so
that the bucket holds exactly what each test says; the Redis script it mirrors is
tested in test_sms_pacer.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from notifications import pacer, services
from notifications.models import Message
from notifications.pacer import CONFIRMATION, REPLY, SmsPacer, sms_pacer
from notifications.tasks import message_deliver, messages_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock(monkeypatch, settings):
    """A full bucket of 4 texts a second (one token of reserve per priority step),
    and a clock that moves only when the test moves it."""
    settings.SMS_MAX_PER_SECOND = 4
    settings.SMS_PACER_RESERVE_SECONDS = 0.25
    monkeypatch.setattr(pacer, "_pacer", SmsPacer(client=None))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def drain(*, priority: int = CONFIRMATION) -> None:
    """Take every token ``priority`` may take, one at a time (a refused ask for many
    would push the slots given to later refused texts back)."""
    while sms_pacer().take(priority=priority).granted:
        pass


def text(purpose: str = "confirmation", recipient: str = "+12025550143") -> Message:
    return Message.objects.create(
        channel="sms",
        purpose=purpose,
        recipient=recipient,
        body="Hi",
        give_up_at=timezone.now() + timedelta(hours=1),
    )


def test_a_text_without_a_token_is_put_back_without_counting_a_try(sms_outbox):
    message = text()
    give_up_at = message.give_up_at
    drain()

    started = timezone.now()
    put_back = services.message_deliver(message_id=message.pk)

    assert put_back.status == Message.Status.SCHEDULED
    assert put_back.attempts == 0
    assert put_back.give_up_at == give_up_at
    assert put_back.error_code == ""
    assert started < put_back.next_attempt_at <= started + timedelta(seconds=2)
    assert sms_outbox == []


def test_the_put_back_text_goes_once_a_token_is_free(sms_outbox, clock):
    message = text()
    drain()
    services.message_deliver(message_id=message.pk)

    assert services.message_deliver(message_id=message.pk) is None  # not due yet
    clock.shift(timedelta(seconds=2))
    sent = services.message_deliver(message_id=message.pk)

    assert sent.status == Message.Status.SENT
    assert sent.attempts == 1
    assert len(sms_outbox) == 1


def test_the_task_queues_itself_for_the_slot_and_the_sweep_sends_later_ones(
    sms_outbox, clock, django_capture_on_commit_callbacks
):
    message = text()
    drain()

    with django_capture_on_commit_callbacks(execute=True) as queued:
        message_deliver.delay(message.pk)

    # Queued again for its slot (eager here: it ran at once and found it not due).
    assert len(queued) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SCHEDULED, 0)
    clock.shift(timedelta(minutes=1))
    assert messages_sweep() == {"due": 1, "sending": 0}
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENT, 1)
    assert len(sms_outbox) == 1


def test_repeated_put_backs_never_spend_the_budget(sms_outbox, clock):
    message = text()
    for _ in range(10):
        clock.shift(timedelta(seconds=10))
        drain()
        assert services.message_deliver(message_id=message.pk) is not None  # claimed, put back
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SCHEDULED, 0)

    clock.shift(timedelta(seconds=10))
    sent = services.message_deliver(message_id=message.pk)
    assert (sent.status, sent.attempts) == (Message.Status.SENT, 1)


def test_a_confirmation_goes_while_lower_texts_wait_for_tokens(sms_outbox):
    # Replies took all they may: one token is left, the confirmations' reserve.
    drain(priority=REPLY)
    follow_up = text("follow_up", "+12025550144")
    reminder = text("reminder", "+12025550145")
    confirmation = text("confirmation", "+12025550146")

    for message in (follow_up, reminder, confirmation):
        services.message_deliver(message_id=message.pk)

    statuses = {
        m.purpose: m.status
        for m in Message.objects.filter(pk__in=[follow_up.pk, reminder.pk, confirmation.pk])
    }
    assert statuses == {
        "follow_up": Message.Status.SCHEDULED,
        "reminder": Message.Status.SCHEDULED,
        "confirmation": Message.Status.SENT,
    }
    assert [sent.to for sent in sms_outbox] == ["+12025550146"]


def test_a_stale_reconcile_leaves_a_claim_made_after_a_put_back_alone(sms_outbox, monkeypatch):
    """A put back uncounts its try, so a newer claim has the count of the one a slow
    reconcile looked at: the claim's time tells them apart."""
    from notifications.backends import LocmemSmsBackend

    message = text("follow_up")
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, sending_at=timezone.now() - timedelta(minutes=5), attempts=1
    )

    def find_sent(self, request, *, since):
        # Meanwhile: that claim was put back (attempts 0) and claimed anew (attempts 1).
        Message.objects.filter(pk=message.pk).update(attempts=1, sending_at=timezone.now())
        return None

    monkeypatch.setattr(LocmemSmsBackend, "find_sent", find_sent)
    services.message_reconcile(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENDING, 1)
    assert sms_outbox == []
