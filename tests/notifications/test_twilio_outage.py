"""Twilio outages longer than a few retries: messages retry by time, not by count.

The clock is frozen (time-machine) and moved on a minute at a time, with the outbox
sweep run each minute as beat would; the fake Twilio (tests/fake_twilio.py) answers
503 or 429 meanwhile, through the real ``twilio`` client."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from clinic.crypto import phone_hash
from intake.models import Lead
from notifications import services
from notifications.backends import (
    LocmemSmsBackend,
    SmsRequest,
    TransportError,
    TwilioSmsBackend,
    retry_after_seconds,
)
from notifications.models import Message, OptOut
from notifications.tasks import messages_sweep
from scheduling.models import Callback
from scheduling.services.undelivered import confirmation_fallback_send
from tests.factories import submit_lead
from tests.fake_twilio import FakeTwilio
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

# A weekday afternoon in the US: no quiet hours anywhere in the country.
START = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)


def sms_confirmations() -> list[Message]:
    return list(Message.objects.filter(channel="sms", purpose="confirmation").order_by("pk"))


def tick(traveller, django_capture_on_commit_callbacks, *, minutes: int = 1) -> None:
    """A minute passes and beat runs the outbox sweep (its tasks run inline)."""
    traveller.shift(timedelta(minutes=minutes))
    with django_capture_on_commit_callbacks(execute=True):
        messages_sweep()


def fallback_emails(address: str) -> list:
    return [
        email
        for email in mail.outbox
        if email.to == [address] and "could not be delivered" in email.body
    ]


def test_a_thirty_minute_503_outage_delays_every_confirmation_but_sends_each_once(
    fake_twilio: FakeTwilio, route, django_capture_on_commit_callbacks
):
    with time_machine.travel(START, tick=False) as traveller:
        fake_twilio.fault("503")
        submissions = [submit_lead(phone=f"+1202555{7100 + n:04d}") for n in range(5)]
        for submission in submissions:
            route(submission)
        outage_ends = timezone.now() + timedelta(minutes=30)

        while timezone.now() < outage_ends:
            tick(traveller, django_capture_on_commit_callbacks)
            assert fake_twilio.messages == []
            assert {m.status for m in sms_confirmations()} == {Message.Status.SCHEDULED}
        tried_in_outage = len(fake_twilio.creates)
        fake_twilio.fault("")
        # The backoff is capped at MESSAGE_RETRY_MAX_DELAY_SECONDS (5 minutes).
        for _ in range(6):
            tick(traveller, django_capture_on_commit_callbacks)
        for _ in range(30):  # and nothing comes back later
            tick(traveller, django_capture_on_commit_callbacks)

    taken = Counter(message["to"] for message in fake_twilio.messages)
    assert taken == {str(submission.lead.phone): 1 for submission in submissions}
    messages = sms_confirmations()
    assert [m.status for m in messages] == [Message.Status.SENT] * 5
    assert {m.provider_id for m in messages} == {m["sid"] for m in fake_twilio.messages}
    assert all(m.sent_at >= outage_ends for m in messages)
    assert all(m.sent_at <= outage_ends + timedelta(minutes=6) for m in messages)
    # Backoff, not a retry a minute: about 2, 4, 8... seconds, then every 2.5-5 minutes.
    assert 5 * 8 <= tried_in_outage <= 5 * 20
    assert Message.objects.filter(status=Message.Status.FAILED).count() == 0


def test_twilio_retry_after_is_read_from_the_answer(fake_twilio: FakeTwilio):
    fake_twilio.fault("429", retry_after=120)

    with pytest.raises(TransportError) as refused:
        TwilioSmsBackend().send(SmsRequest(to="+12025550143", body="Hi"))

    assert refused.value.permanent is False
    assert refused.value.retry_after == 120


def test_retry_after_may_be_an_http_date():
    now = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)

    assert retry_after_seconds("Tue, 03 Mar 2026 18:01:30 GMT", now=now) == 90
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("") is None
    assert retry_after_seconds("soon") is None


def test_no_retry_comes_before_twilio_retry_after(
    fake_twilio: FakeTwilio, route, django_capture_on_commit_callbacks
):
    with time_machine.travel(START, tick=False) as traveller:
        fake_twilio.fault("429", retry_after=600)
        route(submit_lead(phone="+12025557201"))
        (message,) = sms_confirmations()
        assert message.status == Message.Status.SCHEDULED
        assert message.next_attempt_at >= timezone.now() + timedelta(seconds=600)
        fake_twilio.fault("")

        for _ in range(9):
            tick(traveller, django_capture_on_commit_callbacks)
        assert len(fake_twilio.creates) == 1  # asked to wait 10 minutes: nothing sooner

        for _ in range(3):
            tick(traveller, django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(fake_twilio.creates) == 2
    assert len(fake_twilio.messages) == 1


def run_outage_past_the_budget(traveller, django_capture_on_commit_callbacks) -> None:
    for _ in range(45):
        tick(traveller, django_capture_on_commit_callbacks)


def test_after_the_budget_the_text_fails_and_an_email_goes_to_the_submissions_address_once(
    fake_twilio: FakeTwilio,
    route,
    django_capture_on_commit_callbacks,
    settings,
    client,
    coordinator,
):
    settings.MESSAGE_RETRY_BUDGET_MINUTES = 30
    with time_machine.travel(START, tick=False) as traveller:
        fake_twilio.fault("503")
        submission = submit_lead(phone="+12025557301", email="given@example.org")
        # The lead's address is another one (a later change): the fallback answers the
        # submission, to the address given in it.
        Lead.objects.filter(pk=submission.lead_id).update(email="lead@example.org")
        route(submission)
        (message,) = sms_confirmations()
        assert message.give_up_at == timezone.now() + timedelta(minutes=30)

        run_outage_past_the_budget(traveller, django_capture_on_commit_callbacks)

        message.refresh_from_db()
        assert message.status == Message.Status.FAILED
        assert message.error_code == "20503"
        assert "retry budget" in message.error_message
        assert fake_twilio.messages == []
        assert len(fallback_emails("given@example.org")) == 1
        creates = len(fake_twilio.creates)
        # Failed for good: no further tries, however long the sweep runs.
        fake_twilio.fault("")
        run_outage_past_the_budget(traveller, django_capture_on_commit_callbacks)
        assert len(fake_twilio.creates) == creates
        with django_capture_on_commit_callbacks(execute=True):
            confirmation_fallback_send(message_id=message.pk)  # a redelivered task

    (fallback,) = fallback_emails("given@example.org")
    assert fallback_emails("lead@example.org") == []
    assert "Maria" not in fallback.body  # to the form's address: no name
    assert (
        Message.objects.filter(
            channel="email", dedupe_key=f"confirmation-fallback:email:submission:{submission.pk}"
        ).count()
        == 1
    )

    callback = Callback.objects.get(lead_id=submission.lead_id)
    verified_login(client, coordinator)
    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    assert "Not delivered" in html
    assert "Confirmation SMS" in html
    assert "error 20503" in html


def test_a_person_who_texted_stop_gets_no_fallback_email(
    fake_twilio: FakeTwilio, route, django_capture_on_commit_callbacks, settings
):
    settings.MESSAGE_RETRY_BUDGET_MINUTES = 30
    with time_machine.travel(START, tick=False) as traveller:
        fake_twilio.fault("503")
        submission = submit_lead(phone="+12025557401", email="stopped@example.org")
        route(submission)
        (message,) = sms_confirmations()
        # STOP arrives while the text waits for its next try: that try refuses it.
        OptOut.objects.create(
            phone="+12025557401", phone_hash=phone_hash("+12025557401"), source="STOP"
        )

        run_outage_past_the_budget(traveller, django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert fallback_emails("stopped@example.org") == []
    assert fake_twilio.messages == []


def test_a_callback_page_without_failed_messages_has_no_note(client, coordinator, route):
    submission = submit_lead()
    callback = route(submission)
    verified_login(client, coordinator)

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert "Not delivered" not in html


def test_a_follow_up_retry_keeps_to_quiet_hours(sms_outbox):
    # 20:59:59 in New York (EST): the follow-up may go now, its retry not at 21:00.
    with time_machine.travel(datetime(2026, 3, 4, 1, 59, 59, tzinfo=UTC), tick=False):
        message = Message.objects.create(
            channel="sms",
            purpose="follow_up",
            recipient="+12125550143",
            body="We tried to reach you",
            recipient_time_zone="America/New_York",
        )
        LocmemSmsBackend.failures.append(TransportError("busy", code="20503", permanent=False))

        with pytest.raises(services.TransientDeliveryError):
            services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.SCHEDULED
    # 08:00 the next morning in New York.
    assert message.next_attempt_at == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


def test_a_reminder_gives_up_sooner_than_a_confirmation(django_capture_on_commit_callbacks):
    with time_machine.travel(START, tick=False):
        reminder = services.message_send(
            channel="email",
            purpose="reminder",
            recipient="maria@example.org",
            template="confirmation",
            context={"first_name": "Maria", "callback_window": "soon"},
        )
        given = services.message_send(
            channel="email",
            purpose="reminder",
            recipient="maria@example.org",
            template="confirmation",
            context={"first_name": "Maria", "callback_window": "soon"},
            give_up_at=START + timedelta(minutes=20),
        )
        confirmation = services.message_send(
            channel="email",
            purpose="confirmation",
            recipient="maria@example.org",
            template="confirmation",
            context={"first_name": "Maria", "callback_window": "soon"},
        )

    assert reminder.give_up_at == START + timedelta(minutes=90)
    assert given.give_up_at == START + timedelta(minutes=20)
    assert confirmation.give_up_at == START + timedelta(hours=24)


def test_a_message_not_tried_before_its_budget_ran_out_is_failed_not_sent(sms_outbox):
    message = Message.objects.create(
        channel="sms",
        purpose="confirmation",
        recipient="+12025550143",
        body="Hi",
        give_up_at=timezone.now() - timedelta(minutes=1),
    )

    counts = messages_sweep()

    message.refresh_from_db()
    assert counts["due"] == 1
    assert message.status == Message.Status.FAILED
    assert message.error_code == "expired"
    assert sms_outbox == []
