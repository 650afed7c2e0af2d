"""The Twilio SMS backend, through the real ``twilio`` client, against a local fake
Twilio (tests/fake_twilio.py). Nothing here leaves 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import re
import time
from datetime import timedelta

import pytest
import requests
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from notifications import services
from notifications.backends import SmsRequest, TransportError, TwilioSmsBackend
from notifications.models import Message
from notifications.signals import message_failed
from tests.fake_twilio import FROM_NUMBER, FakeTwilio

STATUS_CALLBACK = "https://clinic.example.org/webhooks/twilio/status/"
MESSAGING_SERVICE_SID = "MG" + "a1b2c3d4e5f60718293a4b5c6d7e8f90"
TO = "+12025550143"
BODY = "Hi Maria, this is the clinic. A care coordinator will call you soon. Reply STOP to opt out."


def sms(**overrides: object) -> SmsRequest:
    values: dict[str, object] = {"to": TO, "body": BODY}
    values.update(overrides)
    return SmsRequest(**values)  # type: ignore[arg-type]


def send(request: SmsRequest | None = None) -> str:
    return TwilioSmsBackend().send(request or sms())


# Sending ----------------------------------------------------------------------------


def test_a_send_reaches_twilio_with_the_number_body_sender_and_options(fake_twilio: FakeTwilio):
    sid = send(sms(status_callback=STATUS_CALLBACK, validity_period=14400))

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    (create,) = fake_twilio.creates
    assert create.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert create.form == {
        "To": TO,
        "Body": BODY,
        "From": FROM_NUMBER,
        "StatusCallback": STATUS_CALLBACK,
        "ValidityPeriod": "14400",
    }
    (message,) = fake_twilio.messages
    assert message["sid"] == sid
    assert message["to"] == TO
    assert message["body"] == BODY


def test_it_authenticates_with_the_account_sid_and_auth_token(fake_twilio: FakeTwilio):
    send()

    scheme, _, encoded = fake_twilio.creates[0].headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == (
        f"{fake_twilio.account_sid}:{fake_twilio.auth_token}"
    )


def test_without_a_callback_or_validity_period_neither_is_sent(fake_twilio: FakeTwilio):
    send()

    assert set(fake_twilio.creates[0].form) == {"To", "Body", "From"}


def test_a_messaging_service_is_used_instead_of_the_from_number(fake_twilio: FakeTwilio, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = MESSAGING_SERVICE_SID

    sid = send()

    form = fake_twilio.creates[0].form
    assert form["MessagingServiceSid"] == MESSAGING_SERVICE_SID
    assert "From" not in form
    assert fake_twilio.messages[0]["messaging_service_sid"] == MESSAGING_SERVICE_SID
    assert fake_twilio.messages[0]["sid"] == sid


# Refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [21211, 21610, 21614, 30006],
    ids=["invalid number", "opted out", "not a mobile", "landline"],
)
def test_refusals_no_retry_can_fix_are_permanent_failures(fake_twilio: FakeTwilio, code: int):
    fake_twilio.reject_number(TO, code=code)

    with pytest.raises(TransportError) as refused:
        send()

    assert refused.value.permanent is True
    assert refused.value.code == str(code)


def test_a_landline_is_a_permanent_failure_every_time_but_other_numbers_still_go(
    fake_twilio: FakeTwilio,
):
    fake_twilio.reject_number(TO, code=30006)

    for _ in range(2):
        with pytest.raises(TransportError) as refused:
            send()
        assert (refused.value.code, refused.value.permanent) == ("30006", True)
    assert send(sms(to="+12025550144"))
    assert [message["to"] for message in fake_twilio.messages] == ["+12025550144"]


def test_a_number_twilio_cannot_parse_is_a_permanent_failure(fake_twilio: FakeTwilio):
    with pytest.raises(TransportError) as refused:
        send(sms(to="202-555-CALL"))

    assert (refused.value.code, refused.value.permanent) == ("21211", True)
    assert fake_twilio.messages == []


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        ({"status": 500}, "20500"),
        ({"status": 503}, "20503"),
        ({"status": 429, "text": "Too Many Requests"}, "429"),
        ({"status": 429, "code": 20429}, "20429"),
    ],
    ids=["500", "503", "429 from a proxy", "20429"],
)
def test_outages_and_rate_limits_are_worth_retrying(
    fake_twilio: FakeTwilio, failure: dict[str, object], code: str
):
    fake_twilio.fail_next(**failure)  # type: ignore[arg-type]

    with pytest.raises(TransportError) as refused:
        send()

    assert refused.value.permanent is False
    assert refused.value.code == code
    # Only the next create was refused: the retry goes through.
    assert send() == fake_twilio.messages[0]["sid"]
    assert len(fake_twilio.creates) == 2


def test_a_twilio_slower_than_the_timeout_is_a_quick_transient_network_error(
    fake_twilio: FakeTwilio, settings
):
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    fake_twilio.slow(5)

    started = time.monotonic()
    with pytest.raises(TransportError) as refused:
        send()
    elapsed = time.monotonic() - started

    assert elapsed < 3
    assert refused.value.permanent is False
    assert refused.value.code == "network"
    assert str(refused.value).startswith("Twilio unreachable")


def test_a_twilio_fault_lasts_until_it_is_cleared(fake_twilio: FakeTwilio):
    fake_twilio.fault("500")

    for _ in range(3):
        with pytest.raises(TransportError) as refused:
            send()
        assert (refused.value.code, refused.value.permanent) == ("20500", False)
    fake_twilio.fault("")

    assert send() == fake_twilio.messages[0]["sid"]
    assert len(fake_twilio.creates) == 4


def test_a_twilio_429_fault_carries_retry_after(fake_twilio: FakeTwilio):
    fake_twilio.fault("429", retry_after=3)

    with pytest.raises(TransportError) as refused:
        send()
    answer = requests.post(
        f"{fake_twilio.base_url}{fake_twilio.creates[0].path}",
        data={"To": TO, "From": FROM_NUMBER, "Body": BODY},
        auth=(fake_twilio.account_sid, fake_twilio.auth_token),
        timeout=5,
    )

    assert (refused.value.code, refused.value.permanent) == ("20429", False)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "3"
    assert answer.json()["code"] == 20429
    assert fake_twilio.messages == []


def test_a_slow_twilio_fault_answers_late_until_cleared_and_then_at_once(
    fake_twilio: FakeTwilio, settings
):
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    fake_twilio.fault("slow", delay=5)

    with pytest.raises(TransportError) as refused:
        send()
    fake_twilio.fault("")
    started = time.monotonic()
    sid = send()

    assert refused.value.code == "network"
    assert time.monotonic() - started < 0.5
    # The slow answer's message was taken all the same, as Twilio would.
    assert [message["sid"] for message in fake_twilio.messages][1] == sid
    assert len(fake_twilio.messages) == 2


def test_an_unknown_fault_is_refused(fake_twilio: FakeTwilio):
    with pytest.raises(ValueError, match="Unknown fault"):
        fake_twilio.fault("418")


def test_bad_credentials_are_a_permanent_failure(fake_twilio: FakeTwilio, settings):
    settings.TWILIO_AUTH_TOKEN = "0" * 32

    with pytest.raises(TransportError) as refused:
        send()

    assert (refused.value.code, refused.value.permanent) == ("20003", True)
    assert fake_twilio.messages == []


# Finding an earlier send ------------------------------------------------------------


def test_find_sent_finds_an_identical_message_sent_since(fake_twilio: FakeTwilio):
    since = timezone.now() - timedelta(seconds=5)
    sid = send()

    assert TwilioSmsBackend().find_sent(sms(), since=since) == sid

    listing = fake_twilio.requests[-1]
    assert listing.method == "GET"
    assert listing.path.endswith("/Messages.json")
    assert listing.query["To"] == TO
    assert listing.query["DateSent>"] == since.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listing.query["PageSize"] == "50"


def test_find_sent_ignores_a_different_body_another_number_and_older_messages(
    fake_twilio: FakeTwilio,
):
    since = timezone.now() - timedelta(seconds=5)
    send()
    backend = TwilioSmsBackend()

    assert backend.find_sent(sms(body="Something else"), since=since) is None
    assert backend.find_sent(sms(to="+12025550144"), since=since) is None
    assert backend.find_sent(sms(), since=timezone.now() + timedelta(minutes=1)) is None


def test_find_sent_when_twilio_is_down_is_a_transient_error(fake_twilio: FakeTwilio, settings):
    settings.TWILIO_AUTH_TOKEN = "0" * 32  # any refusal of the listing will do

    with pytest.raises(TransportError) as refused:
        TwilioSmsBackend().find_sent(sms(), since=timezone.now())

    assert (refused.value.code, refused.value.permanent) == ("network", False)


def test_a_lookup_does_not_write_the_phone_number_to_the_logs(fake_twilio: FakeTwilio, caplog):
    caplog.set_level(logging.INFO)  # LOG_LEVEL's default, as in production
    send()
    TwilioSmsBackend().find_sent(sms(), since=timezone.now() - timedelta(minutes=1))

    assert TO not in caplog.text


# No network --------------------------------------------------------------------------


def test_every_request_goes_to_the_fake_and_nowhere_else(fake_twilio: FakeTwilio):
    send(sms(status_callback=STATUS_CALLBACK))
    TwilioSmsBackend().find_sent(sms(), since=timezone.now() - timedelta(minutes=1))

    host, port = fake_twilio.address
    assert len(fake_twilio.requests) == 2
    assert {request.headers["Host"] for request in fake_twilio.requests} == {f"{host}:{port}"}
    assert fake_twilio.connections
    assert set(fake_twilio.connections) == {(host, port)}
    assert fake_twilio.refused == []


def test_without_the_fake_base_url_real_twilio_is_refused_not_reached(
    fake_twilio: FakeTwilio, settings
):
    settings.TWILIO_API_BASE = ""

    with pytest.raises(TransportError) as refused:
        send()

    assert refused.value.code == "network"
    assert fake_twilio.refused == ["api.twilio.com"]
    assert fake_twilio.requests == []


# End to end through the message services ---------------------------------------------


def send_confirmation(**overrides: object) -> Message:
    values: dict[str, object] = {
        "channel": Message.Channel.SMS,
        "purpose": Message.Purpose.CONFIRMATION,
        "recipient": TO,
        "template": "confirmation",
        "context": {"first_name": "Maria", "callback_window": "in the next few minutes"},
        "correlation": "lead:7",
        "dedupe_key": "confirmation:sms:submission:7",
    }
    values.update(overrides)
    return services.message_send(**values)  # type: ignore[arg-type]


@pytest.fixture
def heard_failures():
    heard: list[dict[str, object]] = []

    def listener(sender, **kwargs):
        heard.append(kwargs)

    message_failed.connect(listener)
    yield heard
    message_failed.disconnect(listener)


@pytest.mark.django_db
def test_a_confirmation_is_stored_and_sent_once_through_twilio(
    fake_twilio: FakeTwilio, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_confirmation()

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    (create,) = fake_twilio.creates
    assert create.form["To"] == TO
    assert create.form["Body"] == message.body
    assert create.form["Body"].startswith("Hi, this is ")
    assert create.form["StatusCallback"] == (
        f"{django_settings.PUBLIC_BASE_URL}/webhooks/twilio/status/"
    )
    assert create.form["ValidityPeriod"] == str(services.CONFIRMATION_VALIDITY_SECONDS)
    assert message.provider_id == fake_twilio.messages[0]["sid"]


@pytest.mark.django_db
def test_delivering_the_same_message_again_makes_no_second_request(
    fake_twilio: FakeTwilio, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_confirmation()

    assert services.message_deliver(message_id=message.pk) is None
    with django_capture_on_commit_callbacks(execute=True):
        again = send_confirmation()

    assert again.pk == message.pk
    assert len(fake_twilio.requests) == 1
    assert len(fake_twilio.messages) == 1


@pytest.mark.django_db
def test_a_twilio_outage_reschedules_the_message_and_a_later_try_sends_it(
    fake_twilio: FakeTwilio,
):
    # Stored, not yet handed over (its transaction has not committed): the test is the worker.
    message = send_confirmation()
    fake_twilio.fail_next(status=500)

    with pytest.raises(services.TransientDeliveryError):
        services.message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.SCHEDULED
    assert message.error_code == "20500"
    assert message.next_attempt_at > timezone.now()
    assert services.message_deliver(message_id=message.pk) is None  # not yet due
    assert len(fake_twilio.creates) == 1

    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
        delivered = services.message_deliver(message_id=message.pk)

    assert delivered is not None
    assert delivered.status == Message.Status.SENT
    assert delivered.attempts == 2
    assert len(fake_twilio.creates) == 2
    (taken,) = fake_twilio.messages
    assert delivered.provider_id == taken["sid"]


@pytest.mark.django_db
def test_the_worker_retries_an_outage_later_not_at_once(
    fake_twilio: FakeTwilio, django_capture_on_commit_callbacks
):
    fake_twilio.fail_next(status=503)

    # The eager task retries at once; the message is not due yet, so nothing is sent.
    with django_capture_on_commit_callbacks(execute=True):
        message = send_confirmation()

    message.refresh_from_db()
    assert message.status == Message.Status.SCHEDULED
    assert message.error_code == "20503"
    assert len(fake_twilio.creates) == 1

    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
        delivered = services.message_deliver(message_id=message.pk)

    assert delivered is not None
    assert delivered.status == Message.Status.SENT
    assert len(fake_twilio.messages) == 1


@pytest.mark.django_db
def test_an_invalid_number_fails_for_good_and_says_so(
    fake_twilio: FakeTwilio, django_capture_on_commit_callbacks, heard_failures
):
    fake_twilio.reject_number(TO, code=21211)

    with django_capture_on_commit_callbacks(execute=True):
        message = send_confirmation()

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error_code == "21211"
    assert message.failed_at is not None
    assert len(fake_twilio.creates) == 1  # not retried
    assert heard_failures == [
        {
            "signal": message_failed,
            "message_id": message.pk,
            "correlation": "lead:7",
            "error_code": "21211",
        }
    ]


@pytest.mark.django_db
def test_a_send_that_timed_out_after_twilio_took_it_is_not_sent_twice(
    fake_twilio: FakeTwilio, settings
):
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    message = send_confirmation()
    fake_twilio.slow(2)  # Twilio takes the message but answers too late.

    with pytest.raises(services.TransientDeliveryError):
        services.message_deliver(message_id=message.pk)
    assert len(fake_twilio.messages) == 1
    fake_twilio.slow(0)

    message.refresh_from_db()
    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
        delivered = services.message_deliver(message_id=message.pk)

    assert delivered is not None
    assert delivered.status == Message.Status.SENT
    assert len(fake_twilio.messages) == 1
    assert delivered.provider_id == fake_twilio.messages[0]["sid"]
