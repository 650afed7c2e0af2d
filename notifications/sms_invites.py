"""The one "reply YES to get texts" message: how a number whose consent a form cannot
give (it said stop once, or a request declined texts) says yes itself.

A coordinator sends it from a callback page after asking the person on the call,
never a form; at most once per number, never to a number that opted out or is
refused (``sms_consent.sms_consent_invite_claim``). A YES from the number within
``sms_consent.INVITE_ANSWER_WINDOW`` is the phone's own consent."""

from __future__ import annotations

from django.db import transaction

from notifications.models import Message
from notifications.services import message_send
from notifications.sms_consent import sms_consent_invite_claim

INVITE_TEMPLATE = "sms_consent_invite"


def sms_consent_invite_send(
    *,
    phone: str,
    invited_by_id: int | None,
    correlation: str = "",
    discreet: bool = False,
    crisis: bool = False,
) -> Message:
    """Send the invitation to ``phone`` now (it answers what the person was just asked,
    so quiet hours do not hold it), once per number. Raises ``ApplicationError`` when it
    may not go. It names nobody and carries nobody's words: only the clinic (or the
    discreet sender name) and how to answer; to a person in ``crisis``, with the 988
    and 911 lines too."""
    with transaction.atomic():
        sms_consent_invite_claim(phone=phone, invited_by_id=invited_by_id)
        return message_send(
            channel=Message.Channel.SMS,
            purpose=Message.Purpose.REPLY,
            recipient=phone,
            template=f"{INVITE_TEMPLATE}_crisis" if crisis else INVITE_TEMPLATE,
            context={},
            correlation=correlation,
            discreet=discreet,
        )
