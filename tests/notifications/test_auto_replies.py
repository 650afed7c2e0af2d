"""Automatic replies go only to numbers in SMS_ALLOWED_COUNTRIES (issue 20, item 8):
a bot texting HELP or INFO from premium-rate and far-away numbers must not make the
clinic pay for its answers (SMS pumping through auto-replies)."""

from __future__ import annotations

import pytest

from notifications.models import InboundMessage, Message
from tests.notifications.test_webhooks import signed_post

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token"
BASE = "https://clinic.example"


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE
    settings.SMS_ALLOWED_COUNTRIES = ["US", "CA"]


def text_us(client, sender: str, body: str, sid: str):
    return signed_post(
        client, "/webhooks/twilio/inbound/", {"MessageSid": sid, "From": sender, "Body": body}
    )


@pytest.mark.parametrize(
    "sender",
    [
        "+447911123456",  # a UK mobile
        "+8821612345678",  # an international satellite network (premium)
        "+37060012345",  # a Lithuanian premium-rate number
        "+2389912345",  # Cape Verde
    ],
)
def test_help_texts_from_outside_the_allowed_countries_get_no_reply(
    client, sender, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n, body in enumerate(["HELP", "INFO", "help", "Info"]):
            assert text_us(client, sender, body, sid=f"SM{n:032d}").status_code == 200

    assert sms_outbox == []
    assert not Message.objects.exists()
    # Still recorded, for a coordinator to see.
    assert InboundMessage.objects.filter(kind=InboundMessage.Kind.HELP).count() == 4


@pytest.mark.parametrize("sender", ["+12025550143", "+14165550143"])
def test_help_texts_from_the_allowed_countries_get_the_help_text(
    client, sender, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        text_us(client, sender, "HELP", sid="SM" + "c" * 32)

    (reply,) = sms_outbox
    assert reply.to == sender
    assert "STOP" in reply.body
