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
        "appointment_moved",
        "appointment_reminder",
        "appointment_cancelled",
        "booking_link",
        "waitlist_offer",
        "waitlist_taken",
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
    verified_only: bool = False,
    discreet: bool | None = None,
) -> list[Message]:
    """Send ``template`` to the lead by SMS and/or email, once per ``key``; returns the
    messages recorded (a suppressed one included).

    SMS only with consent for the lead's current number and to a number that takes
    texts (quiet hours are applied by notifications, in the lead's zone); email
    when the lead has an address (with ``attachment``, if any). Both are discreet
    (no clinic name) when the person asked for that. ``give_up_at`` ends their retry
    budget (notifications' default for ``purpose`` otherwise). A person who made a
    crisis submission gets the crisis wording of ``template`` (``CRISIS_VARIANTS``).

    The lead's details came from a form: a message greets the person by name only
    when a coordinator confirmed the name with them and it goes to a detail they
    proved (``intake.services.verification``). ``verified_only`` (anything carrying
    their care: an appointment, its time, its link, its invitation) sends nothing to
    a phone or address that is not verified. ``discreet``: the person's wish, when the
    caller has read it already (else it is read here)."""
    if template in CRISIS_VARIANTS and intake_selectors.lead_in_crisis(lead_id=lead.pk):
        template = f"{template}_crisis"
    if discreet is None:
        discreet = not intake_selectors.lead_contact_preferences(lead_id=lead.pk).mention_clinic_ok
    verified = intake_selectors.lead_verification(lead_id=lead.pk)
    correlation = f"lead:{lead.pk}"
    context = {"first_name": lead.first_name, **context}
    sent = []
    if (
        sms
        and (verified.phone or not verified_only)
        and intake_selectors.lead_sms_reachable(lead_id=lead.pk)
        and intake_selectors.lead_sms_consent_granted(lead_id=lead.pk)
    ):
        sent.append(
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
                greet_by_name=verified.name and verified.phone,
            )
        )
    if email and lead.email and (verified.email or not verified_only):
        sent.append(
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
                greet_by_name=verified.name and verified.email,
            )
        )
    return sent
