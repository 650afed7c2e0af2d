"""Texts about a callback: a person's own text routed (appointment answers, "patient
replied"), and a coordinator's text from the console."""

from __future__ import annotations

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from clinic.workers import enqueue
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import InboundMessage, Message
from notifications.wording import wording_problems
from scheduling.models import Callback
from scheduling.services.consultations import appointment_reply
from scheduling.services.inbox import conversation_inbound_route


def reply_enqueue(*, inbound_id: int) -> bool:
    return enqueue("scheduling.tasks.reply_process", inbound_id)


def reply_route(*, inbound_id: int) -> str:
    """A person texted us. Their thread in the inbox is linked to their lead, and
    crisis words make their callback urgent and alert supervisors
    (``inbox.conversation_inbound_route``). A reply in their own words proves the
    number is theirs
    (``intake.services.lead_phone_verify``). "C" or "R" answers their next
    appointment; anything else moves their live callback up the queue as "patient
    replied". Says which."""
    inbound = notification_selectors.inbound_get(inbound_id=inbound_id)
    if inbound is None:
        return "unknown"
    # The inbox's thread names the lead; crisis words raise the crisis path.
    conversation_inbound_route(inbound=inbound)
    if inbound.kind == InboundMessage.Kind.REPLY and inbound.sender:
        # A text from the number proves it is the person's.
        intake_services.lead_phone_verify(phone=inbound.sender, by=Lead.Verification.SMS_REPLY)
    answered = appointment_reply(phone=inbound.sender, body=inbound.body)
    if answered:
        return answered
    return "replied" if callback_mark_replied(phone=inbound.sender) else "no callback"


def callback_mark_replied(*, phone: str) -> int:
    """The person at ``phone`` texted us: their live callback moves up the queue as
    "patient replied". Returns how many callbacks were marked."""
    if not phone_hash(phone):
        return 0
    return Callback.objects.filter(
        lead_id__in=intake_selectors.lead_ids_with_phone(phone=phone),
        status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED],
    ).update(patient_replied=True)


# Why the console may not text a person, in a coordinator's words.
SMS_NOT_ALLOWED = {
    "opted_out": "This number opted out of texts; only START from the phone lifts that.",
    "refused": "This person asked not to be contacted.",
    "declined": "This number said no to texts. Only the person can say yes again, "
    "from the phone: START, or YES to the one invitation you may send.",
}


def lead_sms_reply(*, callback_id: int, user_id: int, body: str) -> Message:
    """A coordinator texts the lead from the console. Only when the clinic may text the
    lead's number (``intake.selectors.sms_permission``: consent no stranger's form can
    give after a "no"), never naming health information (the same checker as
    templates), at most 320 characters."""
    body = " ".join(body.split())
    if not body:
        raise ApplicationError("Write a message.", fields={"body": ["Required."]})
    if len(body) > 320:
        raise ApplicationError("Keep it under 320 characters.", fields={"body": ["Too long."]})
    problems = wording_problems(body)
    if problems:
        raise ApplicationError(
            f"A text must not name health information ({', '.join(problems)}).",
            fields={"body": ["Names health information."]},
        )
    callback = Callback.objects.select_related("lead").filter(pk=callback_id).first()
    if callback is None:
        raise ApplicationError("No such callback.", code="not_found", status_code=404)
    lead = callback.lead
    permission = intake_selectors.sms_permission(phone=lead.phone, lead_id=lead.pk)
    if not permission.allowed:
        raise ApplicationError(
            SMS_NOT_ALLOWED.get(permission.reason, "This person has not agreed to texts."),
            code="no_sms_consent",
        )
    return notification_services.message_send(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.REPLY,
        recipient=str(lead.phone),
        # To a person in crisis, every text carries 988 and 911.
        template="coordinator_reply_crisis"
        if intake_selectors.lead_in_crisis(lead_id=lead.pk)
        else "coordinator_reply",
        context={"reply_text": body},
        correlation=f"lead:{lead.pk}",
        sent_by_id=user_id,
    )
