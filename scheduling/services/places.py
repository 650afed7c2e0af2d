"""Where a consultation takes place, in the words every page, message and calendar
invitation that names its time uses: in person at the clinic's address, by video at
the appointment's own link, or by phone (the clinician calls the person).

For a person who asked that we not name the clinic, the place never names it (the
address alone, without the clinic's name)."""

from __future__ import annotations

import secrets

from django.conf import settings

from clinic.errors import ApplicationError
from scheduling.models import Appointment

# Short, for texts: "... booked for Monday, November 30 at 9:00 AM EST (by video)."
MODALITY_WORDS = {
    Appointment.Modality.IN_PERSON: "in person",
    Appointment.Modality.VIDEO: "by video",
    Appointment.Modality.PHONE: "by phone",
}


def modality_words(appointment: Appointment) -> str:
    return MODALITY_WORDS[Appointment.Modality(appointment.modality)]


def appointment_place(appointment: Appointment, *, discreet: bool) -> str:
    """Where to go or what to do, in a sentence (emails and the appointment page)."""
    if appointment.modality == Appointment.Modality.VIDEO:
        return f"By video. Join at {appointment.video_url}"
    if appointment.modality == Appointment.Modality.PHONE:
        return "By phone. We will call you at the number you gave us."
    where = _clinic_address(discreet=discreet).replace("\n", ", ")
    if not where and not discreet:
        where = settings.CLINIC_NAME
    return f"In person at {where}." if where else "In person."


def modality_place(modality: str, *, discreet: bool) -> str:
    """How a consultation not booked yet would take place, in a sentence (the booking
    page's choices, a waitlist offer): its video link is made when it is booked."""
    if modality == Appointment.Modality.VIDEO:
        return "By video: you get a link to join."
    return appointment_place(Appointment(modality=modality), discreet=discreet)


def calendar_location(appointment: Appointment, *, discreet: bool) -> str:
    """The invitation's LOCATION: the address, the join link, or "By phone"."""
    if appointment.modality == Appointment.Modality.VIDEO:
        return appointment.video_url
    if appointment.modality == Appointment.Modality.PHONE:
        return "By phone"
    return _clinic_address(discreet=discreet)


def _clinic_address(*, discreet: bool) -> str:
    """The clinic's address (``CLINIC_ADDRESS``), after its name unless discreet; "" when
    none is configured."""
    address = settings.CLINIC_ADDRESS.strip()
    if not address or discreet:
        return address
    return f"{settings.CLINIC_NAME}, {address}"


def modality_checked(modality: str | None) -> tuple[str, str]:
    """The modality to book (the clinic's default when none is given) and, for video,
    a new join link of its own. Raises ``ApplicationError`` (400) for an unknown
    modality or video when the clinic has no video service set up."""
    chosen = modality or settings.CONSULTATION_DEFAULT_MODALITY
    if chosen not in Appointment.Modality.values:
        raise ApplicationError(
            "Some fields are not valid.",
            fields={"modality": [f"One of: {', '.join(Appointment.Modality.values)}."]},
        )
    if chosen != Appointment.Modality.VIDEO:
        return chosen, ""
    if not settings.VIDEO_ROOM_URL:
        raise ApplicationError(
            "Some fields are not valid.",
            fields={"modality": ["Video consultations are not set up (VIDEO_ROOM_URL)."]},
        )
    return chosen, settings.VIDEO_ROOM_URL.format(room=secrets.token_urlsafe(16))
