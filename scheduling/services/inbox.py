"""The text inbox: every two-way SMS thread (``notifications.conversations``), what a
person's text means for their callback, and a coordinator's reply from the inbox.

A reply from the inbox keeps every rule a text keeps: the wording check, the
person's refusal and opt-out, the consent that counts for the number
(``intake.selectors.sms_permission``), discretion (no clinic name where the person
asked), the crisis wording with 988 and 911, and quiet hours unless the person texted
within the hour (``notifications.quiet_hours.quiet_hours_apply``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from clinic import roles
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake.crisis import crisis_language_in
from notifications import conversations
from notifications import services as notification_services
from notifications.models import InboundMessage, Message
from notifications.wording import wording_problems
from scheduling.models import Callback, StaffAlert
from scheduling.services.alerts import alert_raise, audience_emails

REPLY_MAX = 320

# Why a text cannot go, said next to the reply box (field "body").
NOT_ALLOWED = {
    "refused": "This person asked not to be contacted.",
    "opted_out": "This number opted out of texts; only START from the phone lifts that.",
    "declined": "This number said no to texts. Only the person can say yes again, "
    "from the phone: START, or YES to the one invitation you may send.",
    "no_consent": "This person has not agreed to texts.",
    "no_phone": "There is no number to text.",
}


def _lead_for(phone: str) -> int | None:
    return intake_selectors.lead_id_open_for_phone(phone=phone)


def conversation_inbound_route(*, inbound: InboundMessage) -> bool:
    """A person's own words came in by text (``reply_route``): their thread names their
    lead, and words a crisis rule recognises (``intake.crisis``) raise the crisis path
    as a crisis request does: the thread is urgent, the person's live callback becomes
    urgent and due now, and supervisors are alerted (by email too when there is no
    live callback to alert on). Returns whether the text was a crisis signal."""
    lead_id = _lead_for(inbound.sender) if inbound.sender else None
    if lead_id is not None:
        conversations.conversation_link(phone=inbound.sender, lead_id=lead_id)
    if not crisis_language_in(inbound.body):
        return False
    conversations.conversation_mark_urgent(phone=inbound.sender)
    with transaction.atomic():
        callback = (
            Callback.objects.select_for_update()
            .filter(lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED])
            .first()
            if lead_id is not None
            else None
        )
        if callback is not None:
            callback.is_urgent = True
            callback.due_at = min(callback.due_at, inbound.received_at)
            callback.original_due_at = min(callback.original_due_at, inbound.received_at)
            callback.save(update_fields=["is_urgent", "due_at", "original_due_at"])
            alert_raise(
                callback,
                kind=StaffAlert.Kind.URGENT,
                audience=StaffAlert.Audience.SUPERVISOR,
                again=True,
            )
            return True
    thread = conversations.conversation_id_for_phone_hash(hashed=inbound.sender_hash)
    path = reverse("scheduling:console-inbox-thread", args=[thread]) if thread else ""
    # Ids only: no name, number or words in an email.
    notification_services.staff_alert(
        title=f"Crisis words in a text (conversation {thread})",
        text="A text in the inbox matched the crisis rules and no callback is open for "
        "it. No personal details are in this email: open the link to act.",
        link=f"{settings.PUBLIC_BASE_URL}{path}" if path else "",
        recipients=audience_emails(StaffAlert.Audience.SUPERVISOR),
        dedupe_key=f"inbox-crisis:{inbound.pk}",
    )
    return True


def _clean(body: str) -> str:
    body = " ".join(body.split())
    if not body:
        raise ApplicationError("Write a message.", fields={"body": ["Required."]})
    if len(body) > REPLY_MAX:
        raise ApplicationError(
            f"Keep it under {REPLY_MAX} characters.", fields={"body": ["Too long."]}
        )
    problems = wording_problems(body)
    if problems:
        raise ApplicationError(
            f"A text must not name health information ({', '.join(problems)}).",
            fields={"body": ["Names health information."]},
        )
    return body


def conversation_reply(*, conversation_id: int, user_id: int, body: str) -> Message:
    """A coordinator answers a thread from the inbox. Refused with a field error on
    ``body`` (nothing stored) when the words name health information or are too long,
    or when the clinic may not text the number: a refusal, an opt-out, a "no" only the
    phone can lift, no consent. Goes at once when the person texted within the hour,
    else waits for their daytime (the message is then ``scheduled``). The text carries
    the coordinator as ``sent_by`` and the crisis wording to a person in crisis."""
    body = _clean(body)
    thread = conversations.conversation_get(conversation_id=conversation_id)
    if thread is None:
        raise ApplicationError("No such conversation.", code="not_found", status_code=404)
    lead_id = thread.lead_id or _lead_for(thread.phone)
    permission = intake_selectors.sms_permission(phone=thread.phone, lead_id=lead_id)
    if not permission.allowed:
        raise ApplicationError(
            NOT_ALLOWED.get(permission.reason, NOT_ALLOWED["no_consent"]),
            code="no_sms_consent" if permission.reason != "refused" else "do_not_contact",
            fields={"body": [NOT_ALLOWED.get(permission.reason, NOT_ALLOWED["no_consent"])]},
        )
    in_crisis = thread.is_urgent or (
        lead_id is not None and intake_selectors.lead_in_crisis(lead_id=lead_id)
    )
    # An unknown lead gets the most discreet answer (intake.selectors).
    preferences = intake_selectors.lead_contact_preferences(lead_id=lead_id or 0)
    lead = intake_selectors.lead_get(lead_id=lead_id) if lead_id else None
    return notification_services.message_send(
        channel=Message.Channel.SMS,
        purpose=Message.Purpose.REPLY,
        recipient=thread.phone,
        template="coordinator_reply_crisis" if in_crisis else "coordinator_reply",
        context={"reply_text": body},
        correlation=f"lead:{lead_id}" if lead_id else "",
        recipient_time_zone=lead.timezone if lead else "",
        discreet=not preferences.mention_clinic_ok,
        sent_by_id=user_id,
    )


def conversation_assign(*, conversation_id: int, user_id: int | None) -> bool:
    """Assign the thread to a member of care staff (coordinator or supervisor), or to
    nobody. Only care staff may hold a thread."""
    if user_id is not None:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None or not roles.has_role(user, roles.COORDINATOR, roles.SUPERVISOR):
            raise ApplicationError(
                "Only a coordinator or supervisor can hold a conversation.",
                fields={"user": ["Not care staff."]},
            )
    if not conversations.conversation_assign(conversation_id=conversation_id, user_id=user_id):
        raise ApplicationError("No such conversation.", code="not_found", status_code=404)
    return True
