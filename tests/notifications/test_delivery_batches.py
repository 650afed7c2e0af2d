"""Due messages delivered in batches (``messages_deliver_due``): claimed with
``FOR UPDATE SKIP LOCKED``, texts sent from a thread pool, emails over one mail
server connection, each result recorded on its own, and every message sent once
whoever else claims it."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from clinic.crypto import email_hash, phone_hash
from notifications import pacer, services
from notifications.backends import LocmemSmsBackend, TransportError, sms_backend
from notifications.models import Message, OptOut, Refusal
from notifications.pacer import SmsPacer
from tests.fake_twilio import FakeTwilio
from tests.notifications.local_servers import KeepAliveFakeTwilio, LocalSmtpServer

LATER = timedelta(minutes=5)


def due_message(channel: str = "sms", purpose: str = "confirmation", n: int = 0) -> Message:
    recipient = f"+1202555{6000 + n:04d}" if channel == "sms" else f"person{n}@example.org"
    return Message.objects.create(
        channel=channel,
        purpose=purpose,
        recipient=recipient,
        body="Hi",
        subject="We received your request" if channel == "email" else "",
        give_up_at=timezone.now() + timedelta(hours=2),
    )


def deliver_due(limit: int = 100) -> int:
    """As the sweep does, once the messages are old enough to be nobody else's."""
    with time_machine.travel(timezone.now() + LATER, tick=False):
        return services.messages_deliver_due(limit=limit)


@pytest.mark.django_db
def test_a_batch_sends_every_due_message_once(sms_outbox, mailoutbox):
    texts = [due_message(n=n) for n in range(12)]
    emails = [due_message("email", n=n) for n in range(3)]

    assert deliver_due() == 15
    assert deliver_due() == 0  # nothing left, nothing sent again

    assert Counter(sent.to for sent in sms_outbox) == {m.recipient: 1 for m in texts}
    assert sorted(email.to[0] for email in mailoutbox) == sorted(m.recipient for m in emails)
    statuses = Counter(Message.objects.values_list("status", "attempts"))
    assert statuses == {(Message.Status.SENT, 1): 15}


@pytest.mark.django_db
def test_a_batch_claims_confirmations_first_and_puts_back_texts_without_a_token(
    sms_outbox, monkeypatch, settings
):
    settings.SMS_MAX_PER_SECOND = 2  # 3.5 tokens when full: three texts
    monkeypatch.setattr(pacer, "_pacer", SmsPacer(client=None))
    follow_ups = [due_message(purpose="follow_up", n=n) for n in range(3)]
    confirmations = [due_message(n=10 + n) for n in range(3)]

    with time_machine.travel(timezone.now() + LATER, tick=False):
        assert services.messages_deliver_due(limit=10) == 6
        now = timezone.now()

    assert sorted(sent.to for sent in sms_outbox) == sorted(m.recipient for m in confirmations)
    for message in follow_ups:
        message.refresh_from_db()
        assert (message.status, message.attempts) == (Message.Status.SCHEDULED, 0)
        assert now < message.next_attempt_at <= now + timedelta(seconds=5)


@pytest.mark.django_db
def test_one_failing_text_fails_only_itself(sms_outbox):
    messages = [due_message(n=n) for n in range(4)]
    OptOut.objects.create(
        phone=messages[1].recipient, phone_hash=phone_hash(messages[1].recipient), source="STOP"
    )
    LocmemSmsBackend.failures.append(TransportError("busy", code="20429", permanent=False))

    deliver_due()

    results = {m.pk: m for m in Message.objects.all()}
    assert results[messages[1].pk].status == Message.Status.FAILED
    assert results[messages[1].pk].error_code == "opted_out"
    statuses = Counter(results[m.pk].status for m in messages)
    # One of the three took the provider's 429 and is rescheduled; the others went.
    assert statuses == {
        Message.Status.SENT: 2,
        Message.Status.SCHEDULED: 1,
        Message.Status.FAILED: 1,
    }
    assert len(sms_outbox) == 2


@pytest.mark.django_db
def test_emails_of_a_batch_share_one_smtp_connection_and_a_refused_address_fails_alone(
    settings,
):
    server = LocalSmtpServer(refused={"person1@example.org"}).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        emails = [due_message("email", n=n) for n in range(5)]
        deliver_due()
    finally:
        server.stop()

    assert server.opened == 1
    assert sorted(mail.recipients[0] for mail in server.mails) == [
        f"person{n}@example.org" for n in (0, 2, 3, 4)
    ]
    results = {m.pk: m for m in Message.objects.all()}
    assert results[emails[1].pk].status == Message.Status.SCHEDULED
    assert results[emails[1].pk].error_code == "smtp"
    assert [results[m.pk].status for m in emails if m != emails[1]] == [Message.Status.SENT] * 4
    # Each sent email's id is its own Message-ID.
    assert len({results[m.pk].provider_id for m in emails if m != emails[1]}) == 4


@pytest.mark.django_db
def test_texts_of_a_batch_go_in_parallel_over_kept_connections(settings, monkeypatch):
    fake = KeepAliveFakeTwilio().start()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = fake.account_sid, fake.auth_token
    settings.TWILIO_FROM_NUMBER, settings.TWILIO_MESSAGING_SERVICE_SID = "+15005550006", ""
    settings.TWILIO_API_BASE = fake.base_url
    settings.MESSAGE_DELIVERY_THREADS = 4
    for name in ("TWILIO_EDGE", "TWILIO_REGION"):
        monkeypatch.delenv(name, raising=False)
    try:
        messages = [due_message(n=n) for n in range(40)]
        deliver_due(limit=20)
        deliver_due(limit=20)
    finally:
        sent = fake.messages
        opened = fake.opened
        fake.stop()

    assert Counter(m["to"] for m in sent) == {m.recipient: 1 for m in messages}
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SENT}
    # Four threads kept from batch to batch, each keeping its connection alive.
    assert opened <= 4


def test_the_twilio_backend_is_kept_per_thread_and_per_settings(settings, fake_twilio: FakeTwilio):
    first = sms_backend()
    assert sms_backend() is first
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(sms_backend()))
    thread.start()
    thread.join()
    assert elsewhere[0] is not first

    settings.TWILIO_AUTH_TOKEN = "another-token"
    assert sms_backend() is not first


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_send_each_message_once(sms_outbox):
    """Two batch deliverers and two single-message tasks, started together on the same
    due messages (a sweep overlapping a redelivery), on PostgreSQL: every message
    goes exactly once, claimed once."""
    messages = [due_message(n=n) for n in range(40)]
    ids = [m.pk for m in messages]
    older_than = timezone.now() + timedelta(seconds=1)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def batches() -> None:
        start.wait()
        while services.messages_deliver_due(limit=7, older_than=older_than):
            pass

    def singles() -> None:
        start.wait()
        for message_id in random.sample(ids, len(ids)):
            with contextlib.suppress(services.TransientDeliveryError):
                services.message_deliver(message_id=message_id)

    def run(work) -> None:
        try:
            work()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    workers = (batches, batches, singles, singles)
    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert Counter(sent.to for sent in sms_outbox) == {m.recipient: 1 for m in messages}
    assert Counter(Message.objects.values_list("status", "attempts")) == {
        (Message.Status.SENT, 1): 40
    }


@pytest.mark.django_db
def test_a_batch_honours_refusals_but_staff_alerts_still_go(mailoutbox):
    refused = due_message("email", n=1)
    alert = due_message("email", purpose="staff_alert", n=1)  # to the same address
    other = due_message("email", n=2)
    Refusal.objects.create(
        channel=Refusal.Channel.EMAIL, value_hash=email_hash(refused.recipient), source="test"
    )

    deliver_due()

    results = {m.pk: m for m in Message.objects.all()}
    assert (results[refused.pk].status, results[refused.pk].error_code) == (
        Message.Status.FAILED,
        "refused",
    )
    assert results[alert.pk].status == Message.Status.SENT
    assert results[other.pk].status == Message.Status.SENT
    assert len(mailoutbox) == 2
