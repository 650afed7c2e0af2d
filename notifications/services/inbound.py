"""What people send us: texts (STOP, START, YES, HELP or a reply in their own words)
and calls to a clinic number, each recorded once per provider id and told to the apps
above through notifications' signals."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from clinic.crypto import phone_hash
from notifications import conversations, replies
from notifications.models import InboundCall, InboundMessage, Message
from notifications.selectors import sms_country_allowed
from notifications.services.messages import message_send
from notifications.services.opt_outs import opt_out_record
from notifications.signals import call_missed, call_received, reply_received
from notifications.sms_consent import sms_consent_opt_in


def inbound_receive(
    *, provider_id: str, sender: str, body: str, opt_out_type: str = ""
) -> InboundMessage | None:
    """Record an SMS a person sent and act on it, once per provider id.

    STOP-like keywords (or Twilio's ``OptOutType``) opt the number out; START-like
    ones opt it back in and lift the phone's refusal, and YES does when it answers the
    clinic's invitation (``sms_consent.sms_consent_opt_in``), else it is a reply;
    HELP gets the help text, from a number in ``SMS_ALLOWED_COUNTRIES`` only. A
    request to stop in the person's own words is recorded for a coordinator, not acted
    on blindly. The apps above hear of every reply through ``reply_received``."""
    kind = replies.reply_kind(body, opt_out_type=opt_out_type)
    with transaction.atomic():
        inbound, created = InboundMessage.objects.get_or_create(
            provider_id=provider_id,
            defaults={
                "sender": sender,
                "sender_hash": phone_hash(sender),
                "body": body,
                "kind": kind,
            },
        )
        if not created:
            return None
        conversations.conversation_note_inbound(inbound=inbound)
        if kind == InboundMessage.Kind.OPT_OUT:
            opt_out_record(phone=sender, source="inbound keyword")
        elif kind == InboundMessage.Kind.OPT_IN and not sms_consent_opt_in(phone=sender, body=body):
            # A YES that answers no invitation of ours lifts nothing (STOP is lifted by
            # START only): it is an ordinary reply, for a coordinator to read.
            kind = InboundMessage.Kind.REPLY
            InboundMessage.objects.filter(pk=inbound.pk).update(kind=kind)
        elif kind == InboundMessage.Kind.HELP and sms_country_allowed(phone=sender):
            # An auto-reply only to the allowed countries: a bot texting HELP from
            # premium-rate numbers must not make us pay to answer it.
            message_send(
                channel=Message.Channel.SMS,
                purpose=Message.Purpose.REPLY,
                recipient=sender,
                template="help",
                context={},
                dedupe_key=f"help-reply:{provider_id}",
            )
        inbound_id = inbound.pk
        transaction.on_commit(
            lambda: reply_received.send_robust(
                sender=InboundMessage, inbound_id=inbound_id, phone=sender, kind=kind
            ),
            robust=True,
        )
    return inbound


# Twilio's DialCallStatus values that mean nobody at the clinic picked up.
MISSED_DIAL_STATUSES = frozenset({"no-answer", "busy", "failed", "canceled"})


def call_receive(*, provider_id: str, caller: str, called: str) -> InboundCall:
    """Record a call to a clinic number, once per call; the apps above hear of it
    (``call_received``) and record it as a request from the number's article."""
    with transaction.atomic():
        call, created = InboundCall.objects.get_or_create(
            provider_id=provider_id, defaults={"caller": caller[:20], "called": called[:20]}
        )
        if created:
            call_id = call.pk
            transaction.on_commit(
                lambda: call_received.send_robust(sender=InboundCall, call_id=call_id), robust=True
            )
    return call


def call_forward_ended(*, provider_id: str, dial_status: str) -> InboundCall | None:
    """The forward to the clinic line ended. A missed forward is announced
    (``call_missed``) once, so that someone calls the person back."""
    missed = dial_status in MISSED_DIAL_STATUSES
    with transaction.atomic():
        call = (
            InboundCall.objects.select_for_update()
            .filter(provider_id=provider_id, forward=InboundCall.Forward.PENDING)
            .first()
        )
        if call is None:
            return None
        call.forward = InboundCall.Forward.MISSED if missed else InboundCall.Forward.ANSWERED
        call.forward_ended_at = timezone.now()
        call.save(update_fields=["forward", "forward_ended_at"])
        if missed:
            call_id = call.pk
            transaction.on_commit(
                lambda: call_missed.send_robust(sender=InboundCall, call_id=call_id), robust=True
            )
    return call
