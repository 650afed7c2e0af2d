"""What the person is told about their consultation, and the calendar file with it.

Every message that names the time also says how it takes place (``places``), and
every change the person is told of carries the calendar invitation (``invitations``).
"""

from __future__ import annotations

from clinic import business_time
from intake import selectors as intake_selectors
from notifications.models import Message
from scheduling import links
from scheduling.models import Appointment
from scheduling.services.invitations import appointment_ics
from scheduling.services.outreach import lead_message
from scheduling.services.places import appointment_place, modality_words


def appointment_when(appointment: Appointment, tz_name: str) -> str:
    zone = business_time.person_zone(tz_name)
    local = appointment.starts_at.astimezone(zone)
    return f"{local:%A, %B} {local.day} at {local:%I:%M %p}".replace(" 0", " ") + (
        f" {local.tzname()}" if local.tzname() else ""
    )


# The calendar file each message carries: a booking or a move adds or replaces the
# event, a cancellation removes it (the same UID, a higher SEQUENCE each time).
INVITATION_METHODS = {
    "appointment_booked": "REQUEST",
    "appointment_moved": "REQUEST",
    "appointment_cancelled": "CANCEL",
}


def _invitation(
    appointment: Appointment, *, template: str, discreet: bool
) -> tuple[str, str] | None:
    method = INVITATION_METHODS.get(template)
    if method is None:
        return None
    return ("consultation.ics", appointment_ics(appointment, method=method, discreet=discreet))


def appointment_notify(
    appointment: Appointment, *, template: str, purpose: str, key: str
) -> list[Message]:
    """Tell the person about their appointment (see ``outreach.lead_message`` for the
    rules); the booking email carries the calendar invitation. Only to verified
    details: the time, place, link and invitation of someone's care never go to a
    phone or address a stranger may have typed into the form."""
    lead = appointment.lead
    discreet = not intake_selectors.lead_contact_preferences(lead_id=lead.pk).mention_clinic_ok
    return lead_message(
        lead=lead,
        purpose=purpose,
        template=template,
        context={
            "appointment_time": appointment_when(appointment, lead.timezone),
            "appointment_modality": modality_words(appointment),
            "appointment_place": appointment_place(appointment, discreet=discreet),
            "manage_url": links.appointment_manage_url(appointment_id=appointment.pk),
        },
        key=key,
        attachment=_invitation(appointment, template=template, discreet=discreet),
        # A reminder that cannot go before the consultation is not sent at all.
        give_up_at=appointment.starts_at if purpose == Message.Purpose.REMINDER else None,
        verified_only=True,
        discreet=discreet,
    )


def reminder_key(appointment: Appointment, name: str) -> str:
    """The reminder's dedupe key. A moved appointment (a higher ``ics_sequence``) is
    reminded again for its new time; one never moved keeps the keys it always had, so
    reminders already sent before a deploy are not sent twice."""
    if appointment.ics_sequence and appointment.moved_at:
        return f"appointment-reminder:{appointment.pk}:{appointment.ics_sequence}:{name}"
    return f"appointment-reminder:{appointment.pk}:{name}"
