from __future__ import annotations

from datetime import datetime, time, timedelta

import icalendar
import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError

from clinic.errors import ApplicationError
from intake.models import Lead
from intake.services import lead_details_verify
from notifications.models import Message
from notifications.services import inbound_receive
from scheduling import links, selectors, services
from scheduling.models import (
    Appointment,
    AvailabilityException,
    Callback,
)
from tests.factories import submit_lead
from tests.scheduling.conftest import ny
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york):
    """Every test here runs on Monday morning in New York (tests/scheduling/conftest.py)."""


@pytest.fixture
def lead_callback(route):
    """A lead whose phone and email a coordinator confirmed with the person: booking
    messages go only to verified details (tests/scheduling/test_verified_care.py)."""
    callback = route(submit_lead(first_name="Maria"))
    lead_details_verify(
        lead_id=callback.lead_id, phone=True, email=True, by=Lead.Verification.COORDINATOR
    )
    return callback


def test_slots_follow_the_clinicians_week_and_skip_booked_times(clinician, lead_callback):
    slots = selectors.slots_available(start=ny(30, 0), end=ny(30, 23))
    assert [slot.starts_at for slot in slots] == [ny(30, 9), ny(30, 10), ny(30, 11)]

    services.appointment_book(
        lead_id=lead_callback.lead_id,
        clinician_id=clinician.pk,
        starts_at=ny(30, 10),
        booked_by_id=None,
    )

    slots = selectors.slots_available(start=ny(30, 0), end=ny(30, 23))
    assert [slot.starts_at for slot in slots] == [ny(30, 9), ny(30, 11)]


def test_time_off_and_extra_hours_change_the_slots(clinician):
    AvailabilityException.objects.create(
        clinician=clinician, day=datetime(2026, 12, 1).date(), kind="off"
    )
    AvailabilityException.objects.create(
        clinician=clinician,
        day=datetime(2026, 12, 2).date(),
        kind="extra",
        starts_at=time(14),
        ends_at=time(15),
    )
    tuesday = selectors.slots_available(
        start=ny(30, 0) + timedelta(days=1), end=ny(30, 23) + timedelta(days=1)
    )
    wednesday = selectors.slots_available(
        start=ny(30, 0) + timedelta(days=2), end=ny(30, 23) + timedelta(days=2)
    )
    assert tuesday == []
    assert len(wednesday) == 4


def test_nothing_sooner_than_the_minimum_notice_is_offered(clinician, settings):
    settings.BOOKING_MIN_NOTICE = timedelta(hours=2)  # now is 08:00
    slots = selectors.slots_available(start=ny(30, 0), end=ny(30, 23))
    assert slots[0].starts_at == ny(30, 10)


def test_booking_moves_the_lead_closes_the_callback_and_sends_an_invitation(
    clinician, lead_callback, django_capture_on_commit_callbacks, sms_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = services.appointment_book(
            lead_id=lead_callback.lead_id,
            clinician_id=clinician.pk,
            starts_at=ny(30, 9),
            booked_by_id=None,
        )

    lead = Lead.objects.get(pk=lead_callback.lead_id)
    assert lead.stage == Lead.Stage.CONSULT_BOOKED
    assert lead.contacted_at is not None and lead.consult_booked_at is not None
    assert Callback.objects.get(pk=lead_callback.pk).status == Callback.Status.DONE
    invitation = mail.outbox[-1]
    assert invitation.subject == "Your consultation is booked"
    name, content, mimetype = invitation.attachments[0]
    assert (name, mimetype) == ("consultation.ics", "text/calendar")
    event = icalendar.Calendar.from_ical(content).events[0]
    assert event.start == ny(30, 9)
    assert str(event["UID"]).startswith("appointment-")
    assert "Rivera" not in content
    assert "Monday, November 30 at 9:00 AM EST" in sms_outbox[-1].body
    assert appointment.status == Appointment.Status.BOOKED


def test_a_taken_or_unoffered_time_is_refused(clinician, lead_callback, route):
    services.appointment_book(
        lead_id=lead_callback.lead_id,
        clinician_id=clinician.pk,
        starts_at=ny(30, 9),
        booked_by_id=None,
    )
    other = route(submit_lead())
    with pytest.raises(ApplicationError) as taken:
        services.appointment_book(
            lead_id=other.lead_id,
            clinician_id=clinician.pk,
            starts_at=ny(30, 9),
            booked_by_id=None,
        )
    assert taken.value.status_code == 409
    with pytest.raises(ApplicationError):
        services.appointment_book(
            lead_id=other.lead_id,
            clinician_id=clinician.pk,
            starts_at=ny(30, 15),
            booked_by_id=None,
        )


def test_the_database_itself_refuses_a_double_booking(clinician, lead_callback, route):
    other = route(submit_lead())
    Appointment.objects.create(
        lead_id=lead_callback.lead_id, clinician=clinician, starts_at=ny(30, 9), ends_at=ny(30, 10)
    )
    with pytest.raises(IntegrityError):
        Appointment.objects.create(
            lead_id=other.lead_id, clinician=clinician, starts_at=ny(30, 9), ends_at=ny(30, 10)
        )


def test_a_cancelled_slot_can_be_booked_again(clinician, lead_callback, route):
    first = services.appointment_book(
        lead_id=lead_callback.lead_id,
        clinician_id=clinician.pk,
        starts_at=ny(30, 9),
        booked_by_id=None,
    )
    services.appointment_cancel(appointment_id=first.pk, by_person=False)
    other = route(submit_lead())
    again = services.appointment_book(
        lead_id=other.lead_id, clinician_id=clinician.pk, starts_at=ny(30, 9), booked_by_id=None
    )
    assert again.pk != first.pk


def test_reminders_go_24_and_2_hours_before_once_each(
    clinician, lead_callback, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(27, 9), tick=False):  # booked three days ahead
        Appointment.objects.create(
            lead_id=lead_callback.lead_id,
            clinician=clinician,
            starts_at=ny(30, 10),
            ends_at=ny(30, 11),
        )
    with (
        time_machine.travel(ny(29, 11), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 1
        assert services.appointment_reminders_send() == 0
    with (
        time_machine.travel(ny(30, 8, 30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 1
        assert services.appointment_reminders_send() == 0
    reminders = Message.objects.filter(purpose="reminder", channel="sms")
    assert reminders.count() == 2
    # Retried at most until the consultation begins.
    assert {reminder.give_up_at for reminder in reminders} == {ny(30, 10)}


def test_no_reminder_follows_a_booking_confirmation_within_12_hours(
    clinician, lead_callback, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(30, 8, 57), tick=False):  # booked an hour ahead
        Appointment.objects.create(
            lead_id=lead_callback.lead_id,
            clinician=clinician,
            starts_at=ny(30, 10),
            ends_at=ny(30, 11),
        )
    with (
        time_machine.travel(ny(30, 9), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 0
    assert not Message.objects.filter(purpose="reminder").exists()


def test_the_2_hour_reminder_still_goes_when_booked_more_than_12_hours_before(
    clinician, lead_callback, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(29, 18), tick=False):  # booked the evening before
        Appointment.objects.create(
            lead_id=lead_callback.lead_id,
            clinician=clinician,
            starts_at=ny(30, 10),
            ends_at=ny(30, 11),
        )
    with (
        time_machine.travel(ny(30, 8, 30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 1


def test_replying_c_confirms_and_r_asks_to_reschedule(
    clinician, lead_callback, django_capture_on_commit_callbacks
):
    lead = Lead.objects.get(pk=lead_callback.lead_id)
    appointment = services.appointment_book(
        lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 11), booked_by_id=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SMc", sender=str(lead.phone), body="c")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CONFIRMED

    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SMr", sender=str(lead.phone), body="R")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.RESCHEDULE_REQUESTED
    callback = Callback.objects.get(lead=lead, status=Callback.Status.OPEN)
    assert callback.patient_replied is True


def test_a_no_show_goes_back_to_the_queue_and_attendance_moves_the_lead(
    clinician, lead_callback, route
):
    appointment = services.appointment_book(
        lead_id=lead_callback.lead_id,
        clinician_id=clinician.pk,
        starts_at=ny(30, 9),
        booked_by_id=None,
    )
    with pytest.raises(ApplicationError):
        services.appointment_mark(appointment_id=appointment.pk, attended=False)  # not yet

    with time_machine.travel(ny(30, 10), tick=False):
        services.appointment_mark(appointment_id=appointment.pk, attended=False)
    assert Callback.objects.filter(
        lead_id=lead_callback.lead_id, status=Callback.Status.OPEN
    ).exists()

    second = services.appointment_book(
        lead_id=lead_callback.lead_id,
        clinician_id=clinician.pk,
        starts_at=ny(30, 11),
        booked_by_id=None,
    )
    with time_machine.travel(ny(30, 12), tick=False):
        services.appointment_mark(appointment_id=second.pk, attended=True)
        services.appointment_admit(appointment_id=second.pk)
    lead = Lead.objects.get(pk=lead_callback.lead_id)
    assert lead.stage == Lead.Stage.ADMITTED
    assert lead.consult_attended_at is not None and lead.admitted_at is not None


def test_the_signed_link_cancels_and_a_tampered_one_does_nothing(client, clinician, lead_callback):
    appointment = services.appointment_book(
        lead_id=lead_callback.lead_id,
        clinician_id=clinician.pk,
        starts_at=ny(30, 9),
        booked_by_id=None,
    )
    url = links.appointment_manage_url(appointment_id=appointment.pk).split("://", 1)[1]
    path = url[url.index("/") :]

    assert client.get(path[:-5] + "xxxx/").status_code == 404
    page = client.get(path)
    assert page.status_code == 200
    assert "9:00 AM" in page.content.decode()

    asked = client.post(path, {"action": "cancel"})  # asks once more; nothing changes yet
    assert "Cancel this consultation?" in asked.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED

    client.post(path, {"action": "cancel_confirmed"})

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED


def test_the_request_link_restricts_contact_and_cancels_the_request(client, lead_callback):
    submission = lead_callback.submission
    url = links.request_manage_url(submission_id=submission.pk, email_hash=submission.email_hash)
    path = url[url.index("/", 8) :]

    lead = Lead.objects.get(pk=lead_callback.lead_id)
    assert lead.mention_clinic_ok is True
    client.post(path, {"action": "restrict", "no_clinic_name": "on"})
    lead.refresh_from_db()
    assert lead.mention_clinic_ok is False

    client.post(path, {"action": "cancel"})  # asks once more; nothing changes yet
    lead.refresh_from_db()
    assert lead.stage != Lead.Stage.CLOSED
    client.post(path, {"action": "cancel_confirmed"})
    lead.refresh_from_db()
    assert lead.stage == Lead.Stage.CLOSED
    assert Callback.objects.get(pk=lead_callback.pk).status == Callback.Status.CANCELLED


def test_booking_from_the_console_logs_the_call(client, coordinator, clinician, lead_callback):
    from scheduling.services import callback_claim_next

    callback_claim_next(user_id=coordinator.pk)
    verified_login(client, coordinator)
    page = client.get(f"/console/callbacks/{lead_callback.pk}/")
    assert "Book a consultation" in page.content.decode()

    response = client.post(
        f"/console/callbacks/{lead_callback.pk}/book/",
        {"slot": f"{clinician.pk}|{ny(30, 10).isoformat()}"},
    )

    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.starts_at == ny(30, 10)
    assert appointment.booked_by == coordinator
    assert lead_callback.attempts.get().outcome == "booked"


def test_the_slots_and_appointments_api(api_client, coordinator, clinician, lead_callback):
    api_client.force_authenticate(coordinator)
    slots = api_client.get("/api/v1/slots/", {"clinician": clinician.pk}).json()
    assert len(slots) == 15  # three a day, five weekdays within seven days

    booked = api_client.post(
        "/api/v1/appointments/",
        {
            "lead_id": lead_callback.lead_id,
            "clinician_id": clinician.pk,
            "starts_at": slots[0]["starts_at"],
        },
        format="json",
    )
    assert booked.status_code == 201
    again = api_client.post(
        "/api/v1/appointments/",
        {
            "lead_id": lead_callback.lead_id,
            "clinician_id": clinician.pk,
            "starts_at": slots[0]["starts_at"],
        },
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["code"] in {"slot_unavailable", "slot_taken"}
    cancelled = api_client.post(f"/api/v1/appointments/{booked.json()['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
