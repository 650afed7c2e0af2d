"""Calendar invitations for consultations (RFC 5545 and the iTIP methods of RFC 5546),
built with the ``icalendar`` library, which folds and escapes every line.

One appointment is one event for the person's calendar: its UID never changes, and
its SEQUENCE (``Appointment.ics_sequence``) goes up with every change, so a calendar
replaces the event it has instead of adding a second one. A booking or a move is sent
as ``METHOD:REQUEST``, a cancellation as ``METHOD:CANCEL`` (the event's status
CANCELLED), which removes it. Times are in the clinic's zone, with its VTIMEZONE.

What an invitation says follows the discreet wording rules: for a person who asked
that we not name the clinic, neither the SUMMARY nor the LOCATION nor the organiser
names it. No invitation carries health information or the clinician's name (it can
hint at a specialty)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import icalendar
from django.conf import settings
from django.utils import timezone

from scheduling.models import Appointment
from scheduling.services.places import calendar_location

Method = Literal["REQUEST", "CANCEL"]
# The VTIMEZONE describes the zone's rules around the appointment only: every
# transition since 1970 would make each invitation several kilobytes long.
ZONE_RULES_AROUND = timedelta(days=400)


def _domain() -> str:
    return settings.PUBLIC_BASE_URL.split("://", 1)[-1].split("/", 1)[0] or "clinic"


def appointment_uid(appointment: Appointment) -> str:
    """The event's UID: the same in every invitation about this appointment."""
    return f"appointment-{appointment.pk}@{_domain()}"


def _organizer(*, discreet: bool) -> icalendar.vCalAddress:
    address = settings.CLINIC_REPLY_TO_EMAIL
    email = address.rsplit("<", 1)[-1].rstrip(">").strip()
    organizer = icalendar.vCalAddress(f"mailto:{email}")
    organizer.params["CN"] = settings.DISCREET_SENDER_NAME if discreet else settings.CLINIC_NAME
    return organizer


def _summary(*, discreet: bool) -> str:
    if discreet:
        return f"Appointment with {settings.DISCREET_SENDER_NAME}"
    return f"Consultation with {settings.CLINIC_NAME}"


def appointment_ics(
    appointment: Appointment, *, method: Method = "REQUEST", discreet: bool = False
) -> str:
    """The invitation (``REQUEST``) or cancellation (``CANCEL``) of ``appointment`` at
    its current ``ics_sequence``, as the text of a ``.ics`` file."""
    zone = ZoneInfo(settings.CLINIC_TIME_ZONE)
    starts: datetime = appointment.starts_at.astimezone(zone)
    event = icalendar.Event.new(
        uid=appointment_uid(appointment),
        stamp=timezone.now(),
        start=starts,
        end=appointment.ends_at.astimezone(zone),
        sequence=appointment.ics_sequence,
        summary=_summary(discreet=discreet),
        description=f"Questions or changes: {settings.CLINIC_PHONE}",
        organizer=_organizer(discreet=discreet),
        status="CANCELLED" if method == "CANCEL" else "CONFIRMED",
    )
    if location := calendar_location(appointment, discreet=discreet):
        event.add("location", location)
    if appointment.video_url:
        event.add("url", appointment.video_url)
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{_domain()}//Consultations//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(event)
    day = starts.date()
    calendar.add_missing_timezones(
        first_date=day - ZONE_RULES_AROUND, last_date=day + ZONE_RULES_AROUND
    )
    return calendar.to_ical().decode("utf-8")
