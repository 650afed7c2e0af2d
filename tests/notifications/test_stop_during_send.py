"""A STOP or a refusal recorded while texts are going out (``recipient_locks``): once
it is acknowledged, nothing more reaches the number. A send already under way to
it answers first and the stop waits for it; every send after it sees it, in a batch
(checked a free thread's worth at a time, not once for the whole batch) as in a
single delivery. On PostgreSQL, each side on its own connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.db import connections, transaction
from django.utils import timezone

from notifications import services
from notifications.backends import LocmemSmsBackend, SmsRequest
from notifications.models import Message
from notifications.refusals import refusal_record

A, B = "+12025556001", "+12025556002"


def due_text(recipient: str) -> Message:
    return Message.objects.create(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.CONFIRMATION,
        recipient=recipient,
        body="We received your request.",
        give_up_at=timezone.now() + timedelta(hours=2),
    )


def later(work: Callable[[], object]) -> object:
    """As the sweep runs it, once the messages are nobody else's."""
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True):
        return work()


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list]:
    """``work`` on its own thread and database connection; its result or error."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # reported by the test's assertions
            outcome.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def stop(phone: str) -> Callable[[], object]:
    return lambda: services.opt_out_record(phone=phone, source="inbound keyword")


def refuse(phone: str) -> Callable[[], object]:
    return lambda: refusal_record(phone=phone, recorded_by_id=None, source="call")


@pytest.fixture
def held_sends(monkeypatch):
    """Sends to a number in ``hold`` wait for ``release``; ``sending`` is set when one
    has reached the provider. Each answered send's time is in ``answered``."""

    class Gate:
        hold: set[str] = set()
        sending = threading.Event()
        release = threading.Event()
        answered: dict[str, float] = {}

    original = LocmemSmsBackend.send

    def send(self, request: SmsRequest) -> str:
        if request.to in Gate.hold:
            Gate.sending.set()
            assert Gate.release.wait(20)
        provider_id = original(self, request)
        Gate.answered[request.to] = time.monotonic()
        return provider_id

    monkeypatch.setattr(LocmemSmsBackend, "send", send)
    return Gate


@pytest.mark.django_db(transaction=True)
def test_a_stop_acknowledged_while_a_batch_runs_stops_its_texts_not_yet_sent(
    settings, sms_outbox, monkeypatch
):
    """The batch checked B's number at its start; B's STOP lands while A is being
    sent, before a thread is free for B. B must not go."""
    settings.MESSAGE_DELIVERY_THREADS = 1
    first, second = due_text(A), due_text(B)
    original = LocmemSmsBackend.send

    def send(self, request: SmsRequest) -> str:
        if request.to == A:  # the person at B texts STOP now, and is answered
            thread, outcome = in_thread(stop(B))
            thread.join(10)
            assert outcome == [True]
        return original(self, request)

    monkeypatch.setattr(LocmemSmsBackend, "send", send)

    later(lambda: services.messages_deliver_due(limit=10))

    assert [sent.to for sent in sms_outbox] == [A]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Message.Status.SENT
    assert (second.status, second.error_code) == (Message.Status.FAILED, "opted_out")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stopping", [stop, refuse], ids=["STOP", "refusal"])
@pytest.mark.parametrize("single", [False, True], ids=["batch", "single delivery"])
def test_a_stop_waits_for_the_send_under_way_to_its_number(
    held_sends, sms_outbox, stopping, single
):
    text = due_text(A)
    held_sends.hold = {A}
    if single:
        sending, _ = in_thread(lambda: services.message_deliver(message_id=text.pk))
    else:
        sending, _ = in_thread(lambda: later(lambda: services.messages_deliver_due(limit=5)))
    assert held_sends.sending.wait(10)

    stopper, stopped = in_thread(stopping(A))
    stopper.join(0.5)
    assert stopper.is_alive(), "the stop was acknowledged while a text to it was at Twilio"

    held_sends.release.set()
    sending.join(10)
    stopper.join(10)
    stopped_at = time.monotonic()
    assert not stopper.is_alive() and not isinstance(stopped[0], BaseException), stopped
    assert held_sends.answered[A] < stopped_at
    text.refresh_from_db()
    assert text.status == Message.Status.SENT  # it was checked before the stop: it went

    after = due_text(A)
    later(lambda: services.messages_deliver_due(limit=5))
    after.refresh_from_db()
    assert after.status in {Message.Status.SUPPRESSED, Message.Status.FAILED}
    assert [sent.to for sent in sms_outbox] == [A]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("single", [False, True], ids=["batch", "single delivery"])
def test_a_send_waits_out_a_stop_being_recorded_and_then_honours_it(sms_outbox, single):
    """A STOP's transaction is open (not yet committed, not yet acknowledged) when the
    text is due: the batch puts the text back for a moment without counting a try,
    a single delivery waits for the commit; either way the text never goes. (A text
    whose last try timed out, which the stop leaves to the delivery path to settle:
    any other waiting text the stop's own update holds until it commits.)"""
    text = due_text(A)
    Message.objects.filter(pk=text.pk).update(error_code="network", attempts=1)
    recorded, commit = threading.Event(), threading.Event()

    def stop_slowly() -> object:
        with transaction.atomic():
            services.opt_out_record(phone=A, source="inbound keyword")
            recorded.set()
            assert commit.wait(20)
        return True

    stopper, _ = in_thread(stop_slowly)
    assert recorded.wait(10)
    if single:
        sender, outcome = in_thread(lambda: services.message_deliver(message_id=text.pk))
        sender.join(0.5)
        assert sender.is_alive(), "the send did not wait for the stop being recorded"
        commit.set()
        sender.join(10)
        stopper.join(10)
        assert not isinstance(outcome[0], BaseException), outcome
    else:
        later(lambda: services.messages_deliver_due(limit=5))
        text.refresh_from_db()
        assert (text.status, text.attempts) == (Message.Status.SCHEDULED, 1)
        assert not sms_outbox
        commit.set()
        stopper.join(10)
        with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=True):
            services.messages_deliver_due(limit=5)

    text.refresh_from_db()
    assert (text.status, text.error_code) == (Message.Status.FAILED, "opted_out")
    assert not sms_outbox


def advisory_locks_held() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_midway_leaves_no_send_lock_behind(settings, sms_outbox, monkeypatch):
    """The worker keeps its connection from task to task: a send lock left on it
    would hold every later STOP of that number."""
    from notifications.services import delivery_batches

    settings.MESSAGE_DELIVERY_THREADS = 1
    due_text(A), due_text(B)
    checks = []
    blocked = delivery_batches.messages_blocked

    def failing_second_check(messages, *, hashes):
        checks.append(messages)
        if len(checks) == 2:
            raise RuntimeError("the database went away")
        return blocked(messages, hashes=hashes)

    monkeypatch.setattr(delivery_batches, "messages_blocked", failing_second_check)

    with pytest.raises(RuntimeError):
        later(lambda: services.messages_deliver_due(limit=5))

    assert [sent.to for sent in sms_outbox] == [A]
    assert advisory_locks_held() == 0
    stopper, stopped = in_thread(stop(B))
    stopper.join(5)
    assert stopped == [True]


@pytest.mark.django_db(transaction=True)
def test_a_stop_does_not_wait_for_a_send_to_another_number(settings, held_sends, sms_outbox):
    """B's STOP lands while A's text hangs at Twilio in the wave before B's: it is
    acknowledged at once, and B's text, checked after it, never goes."""
    settings.MESSAGE_DELIVERY_THREADS = 1
    due_text(A), due_text(B)
    held_sends.hold = {A}
    sending, _ = in_thread(lambda: later(lambda: services.messages_deliver_due(limit=5)))
    assert held_sends.sending.wait(10)

    stopper, stopped = in_thread(stop(B))
    stopper.join(5)
    assert stopped == [True], "B's STOP waited for a text to A"

    held_sends.release.set()
    sending.join(10)
    assert [sent.to for sent in sms_outbox] == [A]
    assert Message.objects.get(recipient=B).error_code == "opted_out"
