from __future__ import annotations

import random

import pytest
from twilio.request_validator import RequestValidator

from clinic.crypto import phone_hash
from notifications import services
from notifications.models import InboundMessage, Message, OptOut
from notifications.signals import reply_received

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token"
BASE = "https://clinic.example"
PHONE = "+12025550143"


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE


def signed_post(client, path: str, params: dict[str, str], *, token: str = TOKEN):
    signature = RequestValidator(token).compute_signature(BASE + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def sent_message(**fields) -> Message:
    values = {
        "channel": "sms",
        "purpose": "confirmation",
        "recipient": PHONE,
        "body": "Hi",
        "status": Message.Status.SENT,
        "provider_id": "SM" + "a" * 32,
    }
    values.update(fields)
    return Message.objects.create(**values)


class TestSignatures:
    def test_an_unsigned_request_is_refused(self, client):
        response = client.post("/webhooks/twilio/status/", {"MessageSid": "SM1"})
        assert response.status_code == 403

    def test_a_request_signed_with_another_token_is_refused(self, client):
        response = signed_post(
            client, "/webhooks/twilio/inbound/", {"From": PHONE, "Body": "STOP"}, token="x"
        )
        assert response.status_code == 403
        assert OptOut.objects.count() == 0

    def test_a_signature_for_another_url_is_refused(self, client):
        params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
        signature = RequestValidator(TOKEN).compute_signature(
            BASE + "/webhooks/twilio/inbound/", params
        )
        response = client.post(
            "/webhooks/twilio/status/", params, HTTP_X_TWILIO_SIGNATURE=signature
        )
        assert response.status_code == 403

    def test_a_thousand_forged_signatures_are_all_refused(self, client):
        rng = random.Random(7)
        message = sent_message()
        for index in range(1000):
            params = {"MessageSid": message.provider_id, "MessageStatus": "delivered"}
            forged = "".join(rng.choice("ABCDEFabcdef0123456789+/=") for _ in range(28))
            if index % 3 == 0:
                forged = RequestValidator("guess").compute_signature(
                    BASE + "/webhooks/twilio/status/", params
                )
            response = client.post(
                "/webhooks/twilio/status/", params, HTTP_X_TWILIO_SIGNATURE=forged
            )
            assert response.status_code == 403
        message.refresh_from_db()
        assert message.status == Message.Status.SENT

    def test_get_is_not_allowed(self, client):
        assert client.get("/webhooks/twilio/status/").status_code == 405


class TestDeliveryStatus:
    def test_a_delivered_callback_marks_the_message_delivered(self, client):
        message = sent_message()

        response = signed_post(
            client,
            "/webhooks/twilio/status/",
            {"MessageSid": message.provider_id, "MessageStatus": "delivered"},
        )

        assert response.status_code == 204
        message.refresh_from_db()
        assert message.status == Message.Status.DELIVERED
        assert message.delivered_at is not None

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_a_shuffled_replayed_sequence_ends_in_the_right_status(self, client, seed):
        message = sent_message()
        sequence = ["queued", "sending", "sent", "delivered"] * 3
        random.Random(seed).shuffle(sequence)

        for status in sequence:
            signed_post(
                client,
                "/webhooks/twilio/status/",
                {"MessageSid": message.provider_id, "MessageStatus": status},
            )

        message.refresh_from_db()
        assert message.status == Message.Status.DELIVERED

    def test_a_late_sent_never_undoes_a_failure(self, client):
        message = sent_message()
        for status in ("undelivered", "sent", "delivered"):
            signed_post(
                client,
                "/webhooks/twilio/status/",
                {"MessageSid": message.provider_id, "MessageStatus": status, "ErrorCode": "30003"},
            )
        message.refresh_from_db()
        assert message.status == Message.Status.UNDELIVERED
        assert message.error_code == "30003"

    def test_a_carrier_opt_out_blocks_further_sms(self, client):
        message = sent_message()
        signed_post(
            client,
            "/webhooks/twilio/status/",
            {"MessageSid": message.provider_id, "MessageStatus": "failed", "ErrorCode": "21610"},
        )
        assert OptOut.objects.get(phone_hash=phone_hash(PHONE)).reason == OptOut.Reason.CARRIER

    def test_a_landline_is_marked_unusable_for_sms(self, client):
        message = sent_message()
        signed_post(
            client,
            "/webhooks/twilio/status/",
            {
                "MessageSid": message.provider_id,
                "MessageStatus": "undelivered",
                "ErrorCode": "30006",
            },
        )
        assert OptOut.objects.get(phone_hash=phone_hash(PHONE)).reason == OptOut.Reason.UNUSABLE

    def test_a_spam_filtered_message_alerts_staff(
        self, client, settings, mailoutbox, django_capture_on_commit_callbacks
    ):
        settings.STAFF_ALERT_EMAILS = ["ops@clinic.example"]
        message = sent_message()
        with django_capture_on_commit_callbacks(execute=True):
            signed_post(
                client,
                "/webhooks/twilio/status/",
                {
                    "MessageSid": message.provider_id,
                    "MessageStatus": "failed",
                    "ErrorCode": "30007",
                },
            )
        (alert,) = mailoutbox
        assert alert.to == ["ops@clinic.example"]
        assert "30007" in alert.subject
        assert PHONE not in alert.body
        assert OptOut.objects.count() == 0

    def test_an_unknown_message_is_ignored(self, client):
        response = signed_post(
            client, "/webhooks/twilio/status/", {"MessageSid": "SMnope", "MessageStatus": "sent"}
        )
        assert response.status_code == 204


class TestInbound:
    def inbound(self, client, body: str, sid: str = "SM" + "b" * 32, **extra):
        return signed_post(
            client,
            "/webhooks/twilio/inbound/",
            {"MessageSid": sid, "From": PHONE, "Body": body, **extra},
        )

    @pytest.mark.parametrize(
        "body",
        [
            "STOP",
            "stop",
            "Stop.",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "REVOKE",
            "OPTOUT",
            " stop! ",
        ],
    )
    def test_opt_out_keywords_stop_every_further_sms(
        self, client, body, django_capture_on_commit_callbacks, sms_outbox
    ):
        response = self.inbound(client, body)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/xml"
        assert OptOut.objects.filter(
            phone_hash=phone_hash(PHONE), reason=OptOut.Reason.OPTED_OUT
        ).exists()
        with django_capture_on_commit_callbacks(execute=True):
            message = services.message_send(
                channel="sms",
                purpose="confirmation",
                recipient=PHONE,
                template="confirmation",
                context={"first_name": "A", "callback_window": "soon"},
            )
        assert message.status == Message.Status.SUPPRESSED
        assert sms_outbox == []

    def test_twilios_opt_out_type_is_honoured(self, client):
        self.inbound(client, "Arrêtez", OptOutType="STOP")
        assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()

    @pytest.mark.parametrize("body", ["START", "unstop"])
    def test_opt_in_keywords_allow_sms_again(self, client, body):
        OptOut.objects.create(phone=PHONE, phone_hash=phone_hash(PHONE), source="inbound keyword")
        self.inbound(client, body)
        assert not OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()

    def test_yes_alone_does_not_lift_a_stop(self, client):
        """STOP is lifted only by START: YES counts only as the answer to the clinic's
        own "reply YES to get texts" (notifications.sms_consent)."""
        OptOut.objects.create(phone=PHONE, phone_hash=phone_hash(PHONE), source="inbound keyword")
        self.inbound(client, "YES")
        assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()

    @pytest.mark.parametrize("body", ["HELP", "info"])
    def test_help_gets_the_help_text(
        self, client, body, sms_outbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            self.inbound(client, body)
        (reply,) = sms_outbox
        assert reply.to == PHONE
        assert "STOP" in reply.body
        assert Message.objects.get().purpose == Message.Purpose.REPLY

    @pytest.mark.parametrize(
        "body",
        [
            "please stop texting me",
            "Don't text me again",
            "no more messages thanks",
            "No más mensajes por favor",
            "dejen de escribirme",
            "wrong number",
        ],
    )
    def test_a_request_to_stop_in_own_words_is_flagged_not_acted_on(self, client, body):
        self.inbound(client, body)
        inbound = InboundMessage.objects.get()
        assert inbound.kind == InboundMessage.Kind.OPT_OUT_REQUEST
        assert not OptOut.objects.exists()

    @pytest.mark.parametrize(
        "body", ["Can you call after 5?", "yes please call me", "I can't stop worrying", "ok"]
    )
    def test_other_texts_are_replies(self, client, body):
        self.inbound(client, body)
        assert InboundMessage.objects.get().kind == InboundMessage.Kind.REPLY

    def test_every_text_is_announced_once(self, client, django_capture_on_commit_callbacks):
        heard = []
        reply_received.connect(
            lambda sender, **kw: heard.append(kw), weak=False, dispatch_uid="test-heard"
        )
        try:
            with django_capture_on_commit_callbacks(execute=True):
                self.inbound(client, "Can you call after 5?", sid="SM1")
                self.inbound(client, "Can you call after 5?", sid="SM1")  # Twilio retried
        finally:
            reply_received.disconnect(dispatch_uid="test-heard")
        assert [(h["phone"], h["kind"]) for h in heard] == [(PHONE, "reply")]
        assert InboundMessage.objects.count() == 1


class TestTokenRotation:
    def test_a_request_signed_with_the_previous_token_passes_while_it_is_a_fallback(
        self, client, settings
    ):
        settings.TWILIO_AUTH_TOKEN = "the-new-token"
        settings.TWILIO_AUTH_TOKEN_FALLBACKS = [TOKEN]
        response = signed_post(
            client,
            "/webhooks/twilio/inbound/",
            {"MessageSid": "SM" + "c" * 32, "From": PHONE, "Body": "STOP"},
        )
        assert response.status_code == 200
        assert OptOut.objects.filter(phone=PHONE).exists()
        new = signed_post(
            client, "/webhooks/twilio/status/", {"MessageSid": "SM1"}, token="the-new-token"
        )
        assert new.status_code == 204  # signed right; an unknown message is ignored

    def test_the_previous_token_is_refused_once_it_is_no_longer_a_fallback(self, client, settings):
        settings.TWILIO_AUTH_TOKEN = "the-new-token"
        settings.TWILIO_AUTH_TOKEN_FALLBACKS = []
        response = signed_post(
            client,
            "/webhooks/twilio/inbound/",
            {"MessageSid": "SM" + "c" * 32, "From": PHONE, "Body": "STOP"},
        )
        assert response.status_code == 403
        assert not OptOut.objects.exists()

    def test_a_fallback_alone_accepts_nothing_without_a_current_token(self, client, settings):
        settings.TWILIO_AUTH_TOKEN = ""
        settings.TWILIO_AUTH_TOKEN_FALLBACKS = [TOKEN]
        response = signed_post(client, "/webhooks/twilio/status/", {"MessageSid": "SM1"})
        assert response.status_code == 403
