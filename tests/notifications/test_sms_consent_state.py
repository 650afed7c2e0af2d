"""What the phone itself said about texts (issue 20, item 2): notifications' side.

A number's "yes" to texts that no stranger can give is the phone's own: START (or
UNSTOP) from it, or YES in answer to the one "reply YES to get texts" message a
coordinator may send, within a week. Every stop (STOP, a carrier's opt-out, a
link's "stop texts", a refusal) is remembered by the number's keyed hash, so that a
form's consent cannot undo it. Each test is named for the attack it stops."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from notifications import services
from notifications.models import Message, OptOut, SmsConsentState
from notifications.sms_consent import INVITE_ANSWER_WINDOW
from notifications.sms_invites import sms_consent_invite_send

pytestmark = pytest.mark.django_db

PHONE = "+12025550143"


def inbound(body: str, sid: str):
    return services.inbound_receive(provider_id=sid, sender=PHONE, body=body)


def state() -> SmsConsentState | None:
    return SmsConsentState.objects.filter(phone_hash=phone_hash(PHONE)).first()


def invite(user_id=None):
    return sms_consent_invite_send(phone=PHONE, invited_by_id=user_id, correlation="lead:1")


def test_every_stop_is_remembered_by_the_numbers_hash_after_start_lifts_it():
    inbound("STOP", "SM1")
    stopped = state().restricted_at

    inbound("START", "SM2")

    assert not OptOut.objects.exists()
    assert state().restricted_at == stopped
    assert state().proven_at > stopped
    assert state().proof == SmsConsentState.Proof.START


@pytest.mark.parametrize("source", ["carrier", "email link"])
def test_a_stop_that_did_not_come_from_the_phone_is_remembered_too(source):
    services.opt_out_record(phone=PHONE, reason=OptOut.Reason.OPTED_OUT, source=source)

    assert state().restricted_at is not None
    assert state().proven_at is None


def test_yes_without_an_invite_neither_lifts_a_stop_nor_proves_consent():
    """Anyone can tell a person "text YES to ..."; a bare YES is a reply, not a START."""
    inbound("STOP", "SM1")

    inbound("YES", "SM2")

    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()
    assert state().proven_at is None


@pytest.mark.usefixtures("outside_quiet_hours")
def test_yes_answering_the_invite_within_the_window_is_the_phones_own_consent(
    coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        message = invite(coordinator.pk)
    assert message.purpose == Message.Purpose.REPLY
    assert [text.to for text in sms_outbox] == [PHONE]
    assert state().invited_by_id == coordinator.pk

    with time_machine.travel(timezone.now() + INVITE_ANSWER_WINDOW - timedelta(hours=1)):
        inbound("Yes!", "SM2")

    assert state().proof == SmsConsentState.Proof.YES
    assert state().proven_at > state().invited_at


def test_yes_long_after_the_invite_proves_nothing():
    invite()

    with time_machine.travel(timezone.now() + INVITE_ANSWER_WINDOW + timedelta(hours=1)):
        inbound("YES", "SM2")

    assert state().proven_at is None


def test_yes_after_a_stop_that_followed_the_invite_does_not_lift_the_stop():
    invite()
    inbound("STOP", "SM1")

    inbound("YES", "SM2")

    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()
    assert state().proven_at is None


def test_the_invite_goes_once_per_number_ever():
    invite()

    with pytest.raises(ApplicationError) as error:
        invite()

    assert error.value.code == "sms_invite_sent"
    assert Message.objects.filter(template="sms_consent_invite").count() == 1


def test_the_invite_never_goes_to_an_opted_out_number():
    inbound("STOP", "SM1")

    with pytest.raises(ApplicationError) as error:
        invite()

    assert error.value.code == "opted_out"
    assert not Message.objects.filter(template="sms_consent_invite").exists()
    assert state().invited_at is None


def test_the_numbers_state_keeps_only_its_hash_and_survives_erasure():
    inbound("STOP", "SM1")
    inbound("START", "SM2")

    services.contact_erase(phones=[PHONE], emails=[])

    kept = state()
    assert kept.restricted_at and kept.proven_at
    assert PHONE not in repr(
        {field.attname: getattr(kept, field.attname) for field in kept._meta.concrete_fields}
    )
