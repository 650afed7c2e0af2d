from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from clinic.crypto import phone_hash
from notifications import services
from notifications.backends import TransportError
from notifications.models import Message, OptOut
from notifications.signals import message_failed
from notifications.tasks import messages_sweep

pytestmark = pytest.mark.django_db


def send_sms(django_capture_on_commit_callbacks, **overrides) -> Message:
    values = {
        "channel": Message.Channel.SMS,
        "purpose": Message.Purpose.CONFIRMATION,
        "recipient": "+12025550143",
        "template": "confirmation",
        "context": {"first_name": "Maria", "callback_window": "in the next few minutes"},
        "correlation": "lead:1",
        "dedupe_key": "confirmation:sms:submission:1",
    }
    values.update(overrides)
    with django_capture_on_commit_callbacks(execute=True):
        return services.message_send(**values)


def test_a_message_is_sent_once_and_recorded(sms_outbox, django_capture_on_commit_callbacks):
    message = send_sms(django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_id == "locmem-1"
    assert message.attempts == 1
    assert message.sent_at is not None
    assert len(sms_outbox) == 1
    assert sms_outbox[0].status_callback.endswith("/webhooks/twilio/status/")
    assert sms_outbox[0].validity_period == services.CONFIRMATION_VALIDITY_SECONDS


def test_a_redelivered_task_sends_nothing_more(sms_outbox, django_capture_on_commit_callbacks):
    message = send_sms(django_capture_on_commit_callbacks)

    assert services.message_deliver(message_id=message.pk) is None
    assert len(sms_outbox) == 1


def test_the_same_dedupe_key_never_makes_a_second_message(
    sms_outbox, django_capture_on_commit_callbacks
):
    first = send_sms(django_capture_on_commit_callbacks)
    second = send_sms(django_capture_on_commit_callbacks)

    assert first.pk == second.pk
    assert Message.objects.count() == 1
    assert len(sms_outbox) == 1


def test_the_sms_body_names_nobody_and_nothing_about_health(
    sms_outbox, django_capture_on_commit_callbacks
):
    send_sms(django_capture_on_commit_callbacks)

    body = sms_outbox[0].body
    assert "Maria" not in body  # not even that, unless the caller says the name may be used
    assert "STOP" in body
    for word in ("depress", "antidepress", "ketamine", "anxiety", "treatment"):
        assert word not in body.lower()


@pytest.mark.usefixtures("outside_quiet_hours")
def test_names_are_not_html_escaped_in_text_messages(
    sms_outbox, django_capture_on_commit_callbacks
):
    send_sms(
        django_capture_on_commit_callbacks,
        purpose=Message.Purpose.FOLLOW_UP,
        template="missed_call",
        context={"first_name": "D'Arcy"},
        greet_by_name=True,
    )
    assert "D'Arcy" in sms_outbox[0].body


def test_the_template_context_refuses_anything_but_the_allowed_names():
    with pytest.raises(ValueError, match="message"):
        services.message_render(
            template="confirmation", channel="sms", context={"first_name": "A", "message": "x"}
        )


def test_a_transient_failure_reschedules_and_a_later_try_sends(
    sms_outbox, django_capture_on_commit_callbacks
):
    message = Message.objects.create(
        channel="sms", purpose="confirmation", recipient="+12025550143", body="Hi"
    )
    from notifications.backends import LocmemSmsBackend

    LocmemSmsBackend.failures.append(TransportError("busy", code="20429", permanent=False))

    with pytest.raises(services.TransientDeliveryError):
        services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.SCHEDULED
    assert message.error_code == "20429"
    assert message.next_attempt_at > timezone.now()
    assert services.message_deliver(message_id=message.pk) is None  # not yet due

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        delivered = services.message_deliver(message_id=message.pk)

    assert delivered.status == Message.Status.SENT
    assert delivered.attempts == 2
    assert len(sms_outbox) == 1


def test_a_permanent_failure_marks_the_message_failed_and_says_so():
    from notifications.backends import LocmemSmsBackend

    heard = []

    def listener(sender, **kwargs):
        heard.append(kwargs)

    message_failed.connect(listener)
    try:
        message = Message.objects.create(
            channel="sms",
            purpose="confirmation",
            recipient="+12025550143",
            body="Hi",
            correlation="lead:9",
        )
        LocmemSmsBackend.failures.append(TransportError("landline", code="30006", permanent=True))

        failed = services.message_deliver(message_id=message.pk)
    finally:
        message_failed.disconnect(listener)

    assert failed.status == Message.Status.FAILED
    assert failed.error_code == "30006"
    assert failed.failed_at is not None
    assert heard == [
        {
            "signal": message_failed,
            "message_id": message.pk,
            "correlation": "lead:9",
            "error_code": "30006",
        }
    ]


def test_a_failure_whose_next_try_would_come_after_the_budget_fails_for_good():
    from notifications.backends import LocmemSmsBackend

    message = Message.objects.create(
        channel="sms",
        purpose="confirmation",
        recipient="+12025550143",
        body="Hi",
        give_up_at=timezone.now() + timedelta(seconds=1),
    )
    LocmemSmsBackend.failures.append(
        TransportError("down", code="20429", permanent=False, retry_after=5)
    )

    failed = services.message_deliver(message_id=message.pk)

    assert failed.status == Message.Status.FAILED
    assert failed.error_code == "20429"
    assert "retry budget" in failed.error_message


def test_an_opted_out_number_is_suppressed_not_sent(sms_outbox, django_capture_on_commit_callbacks):
    OptOut.objects.create(
        phone="+12025550143", phone_hash=phone_hash("+12025550143"), source="STOP"
    )

    message = send_sms(django_capture_on_commit_callbacks)

    assert message.status == Message.Status.SUPPRESSED
    assert sms_outbox == []


def test_an_opt_out_that_arrives_after_queueing_still_stops_the_send(sms_outbox):
    message = Message.objects.create(
        channel="sms", purpose="follow_up", recipient="+12025550143", body="Hi"
    )
    OptOut.objects.create(
        phone="+12025550143", phone_hash=phone_hash("+12025550143"), source="STOP"
    )

    result = services.message_deliver(message_id=message.pk)

    assert result.status == Message.Status.FAILED
    assert result.error_code == "opted_out"
    assert sms_outbox == []


def test_email_has_text_and_html_parts_and_replies_go_to_the_clinic(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(
            channel="email",
            purpose="confirmation",
            recipient="maria@example.org",
            template="confirmation",
            context={"first_name": "Maria", "callback_window": "today by 3:00 PM EST"},
        )

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    (email,) = mail.outbox
    assert email.subject == "We received your request"
    assert email.body.startswith("Hello,")
    assert email.alternatives[0][1] == "text/html"
    assert email.reply_to
    assert message.provider_id == email.extra_headers["Message-ID"]


def test_the_sweep_queues_pending_messages_nobody_picked_up(
    sms_outbox, django_capture_on_commit_callbacks
):
    message = Message.objects.create(
        channel="sms", purpose="confirmation", recipient="+12025550143", body="Hi"
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        counts = messages_sweep()

    assert counts == {"due": 1, "sending": 0}
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(sms_outbox) == 1


def test_the_sweep_does_not_resend_a_message_the_provider_already_took(sms_outbox):
    from notifications.backends import LocmemSmsBackend, SmsRequest

    message = Message.objects.create(
        channel="sms",
        purpose="follow_up",
        recipient="+12025550143",
        body="Hi",
        status=Message.Status.SENDING,
        sending_at=timezone.now(),
    )
    # The worker died after the provider accepted the SMS, before saving its id.
    LocmemSmsBackend.outbox.append(
        SmsRequest(
            to="+12025550143",
            body="Hi",
            status_callback="http://127.0.0.1:8000/webhooks/twilio/status/",
        )
    )

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert messages_sweep() == {"due": 0, "sending": 1}

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_id == "locmem-1"
    assert len(sms_outbox) == 1


def test_the_sweep_resends_a_message_the_provider_never_got(sms_outbox):
    message = Message.objects.create(
        channel="sms",
        purpose="follow_up",
        recipient="+12025550143",
        body="Hi",
        status=Message.Status.SENDING,
        sending_at=timezone.now(),
    )

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        messages_sweep()

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(sms_outbox) == 1


def test_a_stale_reconcile_leaves_a_newer_claim_alone(sms_outbox, monkeypatch):
    from notifications.backends import LocmemSmsBackend

    message = Message.objects.create(
        channel="sms",
        purpose="follow_up",
        recipient="+12025550143",
        body="Hi",
        status=Message.Status.SENDING,
        sending_at=timezone.now() - timedelta(minutes=5),
        attempts=1,
    )

    def find_sent(self, request, *, since):
        # While this sweep asks the provider, an overlapping one re-queued the
        # message and a worker claimed it again; it is sending it now.
        Message.objects.filter(pk=message.pk).update(attempts=2, sending_at=timezone.now())
        return None

    monkeypatch.setattr(LocmemSmsBackend, "find_sent", find_sent)

    services.message_reconcile(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENDING, 2)
    assert sms_outbox == []


def scheduled_after_a_timeout() -> Message:
    """A text whose last try timed out: the provider may or may not have taken it."""
    return Message.objects.create(
        channel="sms",
        purpose="confirmation",
        recipient="+12025550143",
        body="Hi",
        status=Message.Status.SCHEDULED,
        send_after=timezone.now() - timedelta(seconds=1),
        error_code="network",
        attempts=1,
    )


def test_an_opt_out_does_not_record_a_text_the_provider_took_as_never_sent(sms_outbox):
    from notifications.backends import LocmemSmsBackend, SmsRequest

    message = scheduled_after_a_timeout()
    # The timed-out try reached the provider after all.
    LocmemSmsBackend.outbox.append(
        SmsRequest(
            to="+12025550143",
            body="Hi",
            status_callback="http://127.0.0.1:8000/webhooks/twilio/status/",
            validity_period=services.CONFIRMATION_VALIDITY_SECONDS,
        )
    )

    services.opt_out_record(phone="+12025550143", source="inbound keyword")
    services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.provider_id) == (Message.Status.SENT, "locmem-1")
    assert len(sms_outbox) == 1


def test_an_opt_out_stops_a_timed_out_text_the_provider_never_took(sms_outbox):
    message = scheduled_after_a_timeout()

    services.opt_out_record(phone="+12025550143", source="inbound keyword")
    services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, "opted_out")
    assert sms_outbox == []


def test_an_opt_out_suppresses_a_waiting_text_twilio_refused_before(sms_outbox):
    message = scheduled_after_a_timeout()
    Message.objects.filter(pk=message.pk).update(error_code="20429")

    services.opt_out_record(phone="+12025550143", source="inbound keyword")

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.SUPPRESSED, "opted_out")
