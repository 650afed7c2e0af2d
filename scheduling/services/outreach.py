"""Messages from the clinic to a lead, with every rule of who may get what."""

from __future__ import annotations

from datetime import datetime

from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import services as notification_services
from notifications.models import Message

# Follow-ups with a crisis wording ("<name>_crisis": 988 and 911, never "soon"), taken
# for a lead who made a crisis submission.
CRISIS_VARIANTS = frozenset(
    {
        "missed_call",
        "unreachable",
        "appointment_booked",
        "appointment_reminder",
        "appointment_cancelled",
    }
)


def lead_message(
    *,
    lead: Lead,
    purpose: str,
    template: str,
    context: dict[str, str],
    key: str,
    sms: bool = True,
    email: bool = True,
    attachment: tuple[str, str] | None = None,
    give_up_at: datetime | None = None,
) -> None:
    """Send ``template`` to the lead by SMS and/or email, once per ``key``.

    SMS only with consent for the lead's current number and to a number that takes
    texts (quiet hours are applied by notifications, in the lead's zone); email
    when the lead has an address (with ``attachment``, if any). Both are discreet
    (no clinic name) when the person asked for that. ``give_up_at`` ends their retry
    budget (notifications' default for ``purpose`` otherwise). A person who made a
    crisis submission gets the crisis wording of ``template`` (``CRISIS_VARIANTS``)."""
    if template in CRISIS_VARIANTS and intake_selectors.lead_in_crisis(lead_id=lead.pk):
        template = f"{template}_crisis"
    discreet = not intake_selectors.lead_contact_preferences(lead_id=lead.pk).mention_clinic_ok
    correlation = f"lead:{lead.pk}"
    context = {"first_name": lead.first_name, **context}
    if (
        sms
        and intake_selectors.lead_sms_reachable(lead_id=lead.pk)
        and intake_selectors.lead_sms_consent_granted(lead_id=lead.pk)
    ):
        notification_services.message_send(
            channel=Message.Channel.SMS,
            purpose=purpose,
            recipient=str(lead.phone),
            template=template,
            context=context,
            correlation=correlation,
            dedupe_key=f"{key}:sms",
            recipient_time_zone=lead.timezone,
            discreet=discreet,
            give_up_at=give_up_at,
        )
    if email and lead.email:
        notification_services.message_send(
            channel=Message.Channel.EMAIL,
            purpose=purpose,
            recipient=lead.email,
            template=template,
            context=context,
            correlation=correlation,
            dedupe_key=f"{key}:email",
            discreet=discreet,
            attachment=attachment,
            give_up_at=give_up_at,
        )
