"""Calendar invitations stay right (issue 25, item 4): built with icalendar, one UID per
appointment, SEQUENCE raised with each change, REQUEST on booking, CANCEL on
cancellation, folded and escaped per RFC 5545, the clinic's zone as a VTIMEZONE, and
the discreet wording in SUMMARY, LOCATION and the organiser. Each file is read back
with icalendar and with a second parser (vobject)."""

from __future__ import annotations

import icalendar
import pytest
import vobject
from django.core import mail

from intake.models import Lead
from intake.services import lead_details_verify
from scheduling import services
from scheduling.models import Appointment
from scheduling.services.invitations import appointment_ics, appointment_uid
from tests.factories import submit_lead
from tests.scheduling.conftest import ny

ADDRESS = "12 Elm Street, Suite 4; New Haven, CT 06510\nEnter by the garden door"


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    settings.CLINIC_ADDRESS = ADDRESS


def unsaved_appointment(**fields) -> Appointment:
    return Appointment(pk=7, starts_at=ny(30, 9), ends_at=ny(30, 10), **fields)


def lines_of(text: str) -> list[str]:
    assert text.endswith("\r\n")
    return text[:-2].split("\r\n")


def test_an_invitation_reads_back_the_same_in_two_parsers(settings):
    text = appointment_ics(unsaved_appointment(), method="REQUEST")

    calendar = icalendar.Calendar.from_ical(text)
    assert calendar["METHOD"] == "REQUEST"
    event = calendar.events[0]
    assert event.start == ny(30, 9) and event.end == ny(30, 10)
    assert str(event.start.tzinfo) == "America/New_York"
    assert str(event["UID"]) == f"appointment-7@{settings.PUBLIC_BASE_URL.split('://')[1]}"
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Consultation with Sterling Institute"
    assert event["LOCATION"] == f"Sterling Institute, {ADDRESS}"
    assert [zone.tz_name for zone in calendar.timezones] == ["America/New_York"]

    second = vobject.readOne(text)
    assert second.method.value == "REQUEST"
    assert second.vevent.uid.value == str(event["UID"])
    assert second.vevent.dtstart.value == ny(30, 9)
    assert second.vevent.location.value == f"Sterling Institute, {ADDRESS}"
    assert second.vevent.sequence.value == "0"
    assert second.vtimezone.tzid.value == "America/New_York"


def test_lines_are_folded_and_text_escaped_per_rfc_5545(settings):
    settings.CLINIC_ADDRESS = "Building " + "with a very long name, " * 8 + "; rear entrance\\"
    text = appointment_ics(unsaved_appointment(), method="REQUEST")

    assert all(len(line.encode("utf-8")) <= 75 for line in lines_of(text))
    assert any(line.startswith(" ") for line in lines_of(text))  # a folded line
    raw = "".join(line[1:] if line.startswith(" ") else "\n" + line for line in lines_of(text))
    assert "\\, " in raw and "\\;" in raw and "\\\\" in raw
    location = icalendar.Calendar.from_ical(text).events[0]["LOCATION"]
    assert location == f"Sterling Institute, {settings.CLINIC_ADDRESS}"
    assert vobject.readOne(text).vevent.location.value == location


def test_the_zone_rules_cover_a_summer_appointment():
    july = Appointment(
        pk=8,
        starts_at=ny(30, 9).replace(month=7, day=15),
        ends_at=ny(30, 10).replace(month=7, day=15),
    )
    text = appointment_ics(july, method="REQUEST")
    event = vobject.readOne(text).vevent
    assert event.dtstart.value.utcoffset().total_seconds() == -4 * 3600  # EDT
    assert icalendar.Calendar.from_ical(text).events[0].start == july.starts_at


def test_a_discreet_invitation_never_names_the_clinic(settings):
    text = appointment_ics(unsaved_appointment(), method="REQUEST", discreet=True)

    assert "Sterling" not in text
    event = icalendar.Calendar.from_ical(text).events[0]
    assert event["SUMMARY"] == "Appointment with your care team"
    assert event["LOCATION"] == ADDRESS
    assert event["ORGANIZER"].params["CN"] == "your care team"


def test_no_address_configured_means_no_location(settings):
    settings.CLINIC_ADDRESS = ""
    event = icalendar.Calendar.from_ical(appointment_ics(unsaved_appointment())).events[0]
    assert "LOCATION" not in event


def test_a_cancellation_removes_the_same_event():
    booked = appointment_ics(unsaved_appointment(), method="REQUEST")
    cancelled = appointment_ics(unsaved_appointment(ics_sequence=1), method="CANCEL")

    first = icalendar.Calendar.from_ical(booked).events[0]
    calendar = icalendar.Calendar.from_ical(cancelled)
    assert calendar["METHOD"] == "CANCEL"
    event = calendar.events[0]
    assert event["UID"] == first["UID"]
    assert event["SEQUENCE"] == 1 > first["SEQUENCE"]
    assert event["STATUS"] == "CANCELLED"
    assert vobject.readOne(cancelled).vevent.status.value == "CANCELLED"


@pytest.mark.django_db
@pytest.mark.parametrize("by_person", [True, False])
def test_booking_then_cancelling_sends_request_then_cancel(
    clinician, route, django_capture_on_commit_callbacks, by_person
):
    callback = route(submit_lead(first_name="Maria"))
    lead_details_verify(
        lead_id=callback.lead_id, phone=True, email=True, by=Lead.Verification.COORDINATOR
    )
    with django_capture_on_commit_callbacks(execute=True):
        appointment = services.appointment_book(
            lead_id=callback.lead_id,
            clinician_id=clinician.pk,
            starts_at=ny(30, 9),
            booked_by_id=None,
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.appointment_cancel(appointment_id=appointment.pk, by_person=by_person)

    invitations = [
        icalendar.Calendar.from_ical(content)
        for message in mail.outbox
        for name, content, _ in message.attachments
        if name == "consultation.ics"
    ]
    assert [calendar["METHOD"] for calendar in invitations] == ["REQUEST", "CANCEL"]
    booked, cancelled = (calendar.events[0] for calendar in invitations)
    assert booked["UID"] == cancelled["UID"] == appointment_uid(appointment)
    assert (booked["SEQUENCE"], cancelled["SEQUENCE"]) == (0, 1)
    assert Appointment.objects.get(pk=appointment.pk).ics_sequence == 1
    assert "Maria" not in str(invitations)


@pytest.mark.django_db
def test_a_discreet_lead_gets_a_discreet_invitation(
    clinician, route, django_capture_on_commit_callbacks
):
    callback = route(submit_lead(contact_preferences={"mention_clinic_ok": False}))
    lead_details_verify(lead_id=callback.lead_id, email=True, by=Lead.Verification.COORDINATOR)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_book(
            lead_id=callback.lead_id,
            clinician_id=clinician.pk,
            starts_at=ny(30, 10),
            booked_by_id=None,
        )
    (content,) = [
        content
        for message in mail.outbox
        for name, content, _ in message.attachments
        if name == "consultation.ics"
    ]
    assert "Sterling" not in content
    assert icalendar.Calendar.from_ical(content).events[0]["LOCATION"] == ADDRESS
