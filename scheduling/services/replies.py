"""A coordinator's own words to the person by email: the counterpart of the text path
(``callbacks.lead_sms_reply``), for people who gave only an email address."""

from __future__ import annotations

from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message
from notifications.wording import wording_problems
from scheduling.models import CallAttempt, Callback
from scheduling.services.attempts import CLOSING_OUTCOMES

EMAIL_REPLY_MAX = 2000


def lead_email_reply(*, callback_id: int, user_id: int, body: str) -> Message:
    """A coordinator emails the lead from the console, through the same wording check
    as a text (no health information, in the words or as rendered) and the same
    record (a reply message on the lead's timeline, audited). The email carries the
    coordinator's words and the clinic's name as sign-off, nothing else: no name
    greeting, no subject matter ("A message from ..."); no clinic name at all when the
    person asked for discretion. Never to a person who asked not to be contacted."""
    lines = [" ".join(line.split()) for line in body.strip().splitlines()]
    body = "\n".join(lines).strip()
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    if not body:
        raise ApplicationError("Write a message.", fields={"body": ["Required."]})
    if len(body) > EMAIL_REPLY_MAX:
        raise ApplicationError(
            f"Keep it under {EMAIL_REPLY_MAX} characters.", fields={"body": ["Too long."]}
        )
    problems = wording_problems(body)
    if problems:
        raise ApplicationError(
            f"An email must not name health information ({', '.join(problems)}).",
            fields={"body": ["Names health information."]},
        )
    callback = Callback.objects.select_related("lead").filter(pk=callback_id).first()
    if callback is None:
        raise ApplicationError("No such callback.", code="not_found", status_code=404)
    lead = callback.lead
    if not lead.email:
        raise ApplicationError("This person gave no email address.", code="no_email")
    refused = CLOSING_OUTCOMES[CallAttempt.Outcome.DO_NOT_CONTACT]
    if (
        lead.stage == Lead.Stage.CLOSED and lead.closed_reason == refused
    ) or notification_selectors.contact_refused(email=lead.email):
        raise ApplicationError("This person asked not to be contacted.", code="do_not_contact")
    discreet = not intake_selectors.lead_contact_preferences(lead_id=lead.pk).mention_clinic_ok
    return notification_services.message_send(
        channel=Message.Channel.EMAIL,
        purpose=Message.Purpose.REPLY,
        recipient=lead.email,
        # To a person in crisis, every message carries 988 and 911.
        template="coordinator_reply_crisis"
        if intake_selectors.lead_in_crisis(lead_id=lead.pk)
        else "coordinator_reply",
        context={"reply_text": body},
        correlation=f"lead:{lead.pk}",
        discreet=discreet,
    )
