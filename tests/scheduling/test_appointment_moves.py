"""Moving a consultation and how it takes place (issue 25, items 3 and 4): one
conditional write that never double-books, a 409 with the next open times, the old
time's reminders cancelled and new ones for the new time, the calendar event
replaced (same UID, higher SEQUENCE), and the modality on every page and message
that names the time."""

from __future__ import annotations

import threading
from datetime import timedelta

import icalendar
import pytest
import time_machine
from django.core import mail
from django.db import connection, connections

from intake.models import Lead
from intake.services import lead_details_verify
from notifications.models import Message
from scheduling import links, services
from scheduling.models import Appointment
from tests.factories import submit_lead
from tests.scheduling.conftest import ny

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    settings.CLINIC_ADDRESS = "12 Elm Street, New Haven"
    settings.VIDEO_ROOM_URL = "https://meet.example.org/clinic-{room}"


def verified_lead(route, **fields) -> int:
    submission = submit_lead(**fields)
    route(submission)  # in a transactional test, routed already when it committed
    lead_details_verify(
        lead_id=submission.lead_id, phone=True, email=True, by=Lead.Verification.COORDINATOR
    )
    return submission.lead_id


def book(lead_id: int, clinician, hour: int, day: int = 30, **fields) -> Appointment:
    return services.appointment_book(
        lead_id=lead_id,
        clinician_id=clinician.pk,
        starts_at=ny(day, hour),
        booked_by_id=None,
        **fields,
    )


def invitations(outbox=None) -> list[icalendar.Calendar]:
    return [
        icalendar.Calendar.from_ical(content)
        for message in outbox or mail.outbox
        for name, content, _ in message.attachments
        if name == "consultation.ics"
    ]


def test_a_coordinator_moves_a_consultation_and_the_calendar_follows(
    api_client, coordinator, clinician, route, django_capture_on_commit_callbacks, sms_outbox
):
    lead_id = verified_lead(route)
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(lead_id, clinician, 9)
    api_client.force_authenticate(coordinator)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            f"/api/v1/appointments/{appointment.pk}/move/",
            {"starts_at": ny(30, 11).isoformat()},
            format="json",
        )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["starts_at"].startswith("2026-11-30T16:00")
    assert body["moved_at"] is not None and body["status"] == "booked"
    moved = Appointment.objects.get(pk=appointment.pk)
    assert (moved.starts_at, moved.ics_sequence) == (ny(30, 11), 1)
    booked, replaced = (calendar.events[0] for calendar in invitations())
    assert replaced["UID"] == booked["UID"]
    assert (booked["SEQUENCE"], replaced["SEQUENCE"]) == (0, 1)
    assert replaced.start == ny(30, 11)
    assert mail.outbox[-1].subject == "Your consultation has a new time"
    assert "is moved to Monday, November 30 at 11:00 AM EST (in person)" in sms_outbox[-1].body


def test_a_taken_time_answers_409_with_the_next_open_times_and_changes_nothing(
    api_client, coordinator, clinician, route
):
    first = book(verified_lead(route), clinician, 9)
    book(verified_lead(route), clinician, 10)
    api_client.force_authenticate(coordinator)
    sent = Message.objects.count()

    response = api_client.post(
        f"/api/v1/appointments/{first.pk}/move/",
        {"starts_at": ny(30, 10).isoformat()},
        format="json",
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "slot_unavailable"
    assert body["fields"] == {"starts_at": ["Not an open time."]}
    assert [slot["starts_at"][:16] for slot in body["next_slots"]] == [
        "2026-11-30T16:00",  # 11:00 in New York, the only one left on Monday
        "2026-12-01T14:00",
        "2026-12-01T15:00",
    ]
    assert Appointment.objects.get(pk=first.pk).starts_at == ny(30, 9)
    assert Message.objects.count() == sent


def test_booking_a_taken_time_also_offers_the_next_open_times(
    api_client, coordinator, clinician, route
):
    book(verified_lead(route), clinician, 9)
    api_client.force_authenticate(coordinator)
    response = api_client.post(
        "/api/v1/appointments/",
        {
            "lead_id": verified_lead(route),
            "clinician_id": clinician.pk,
            "starts_at": ny(30, 9).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 409
    assert len(response.json()["next_slots"]) == 3


def test_only_an_active_consultation_moves(api_client, coordinator, clinician, route):
    appointment = book(verified_lead(route), clinician, 9)
    services.appointment_cancel(appointment_id=appointment.pk, by_person=False)
    api_client.force_authenticate(coordinator)
    response = api_client.post(
        f"/api/v1/appointments/{appointment.pk}/move/",
        {"starts_at": ny(30, 11).isoformat()},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (409, "not_active")
    missing = api_client.post(
        "/api/v1/appointments/999999/move/", {"starts_at": ny(30, 11).isoformat()}, format="json"
    )
    assert missing.status_code == 404
    bad = api_client.post(
        f"/api/v1/appointments/{appointment.pk}/move/", {"starts_at": "soon"}, format="json"
    )
    assert bad.status_code == 400 and "starts_at" in bad.json()["fields"]


def test_a_move_cancels_the_old_reminders_and_the_new_time_gets_its_own(
    clinician, route, django_capture_on_commit_callbacks
):
    lead_id = verified_lead(route)
    with time_machine.travel(ny(27, 9), tick=False):  # booked three days ahead
        appointment = book(lead_id, clinician, 10)
    with (
        time_machine.travel(ny(29, 10, 30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 1  # the 24-hour reminder
    old = set(
        Message.objects.filter(dedupe_key__startswith="appointment-reminder:").values_list(
            "pk", flat=True
        )
    )
    assert old

    # The day before, the person moves to Tuesday; Monday's 2-hour reminder never goes.
    with (
        time_machine.travel(ny(29, 12), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tuesday = ny(30, 10) + timedelta(days=1)
        services.appointment_move(appointment_id=appointment.pk, starts_at=tuesday)
    with (
        time_machine.travel(ny(30, 8, 30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 0  # Monday's 2-hour: not any more
    with (
        time_machine.travel(ny(30, 10, 30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 1  # Tuesday's 24-hour
        assert services.appointment_reminders_send() == 0  # once
    new = Message.objects.filter(dedupe_key__startswith="appointment-reminder:").exclude(pk__in=old)
    assert {key.rsplit(":", 1)[0] for key in new.values_list("dedupe_key", flat=True)} == {
        f"appointment-reminder:{appointment.pk}:1:24h"
    }


@pytest.mark.django_db(transaction=True)
def test_two_moves_racing_for_one_time_give_it_to_one(clinician, route):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, there is no race to test")
    first = book(verified_lead(route), clinician, 9)
    second = book(verified_lead(route), clinician, 10)
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def move(appointment_id: int) -> None:
        try:
            start.wait()
            services.appointment_move(appointment_id=appointment_id, starts_at=ny(30, 11))
            outcomes[appointment_id] = "moved"
        except services.SlotTaken as error:
            outcomes[appointment_id] = error.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=move, args=(pk,)) for pk in (first.pk, second.pk)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) in (["moved", "slot_taken"], ["moved", "slot_unavailable"])
    at_eleven = Appointment.objects.filter(starts_at=ny(30, 11), status__in=Appointment.ACTIVE)
    assert at_eleven.count() == 1
    loser = second.pk if outcomes[first.pk] == "moved" else first.pk
    assert Appointment.objects.get(pk=loser).starts_at in (ny(30, 9), ny(30, 10))


def test_a_video_consultation_has_its_own_link_everywhere(
    client, clinician, route, django_capture_on_commit_callbacks, sms_outbox
):
    other = book(verified_lead(route), clinician, 10, modality="video")
    lead_id = verified_lead(route)
    with django_capture_on_commit_callbacks(execute=True):
        one = book(lead_id, clinician, 9, modality="video")

    assert one.video_url.startswith("https://meet.example.org/clinic-")
    assert len(one.video_url) > len("https://meet.example.org/clinic-") + 16
    assert one.video_url != other.video_url
    assert "(by video)" in sms_outbox[-1].body
    email = mail.outbox[-1]
    assert f"By video. Join at {one.video_url}" in email.body
    event = invitations([email])[0].events[0]
    assert event["LOCATION"] == one.video_url
    page = client.get(links.appointment_manage_url(appointment_id=one.pk))
    assert one.video_url in page.content.decode()
    assert "Join the video consultation" in page.content.decode()


def test_in_person_and_phone_say_so_and_a_discreet_place_never_names_the_clinic(
    client, clinician, route, django_capture_on_commit_callbacks
):
    in_person = book(verified_lead(route), clinician, 9)
    discreet = book(
        verified_lead(route, contact_preferences={"mention_clinic_ok": False}),
        clinician,
        10,
        modality="phone",
    )

    page = client.get(links.appointment_manage_url(appointment_id=in_person.pk)).content.decode()
    assert "In person at Sterling Institute, 12 Elm Street, New Haven." in page
    page = client.get(links.appointment_manage_url(appointment_id=discreet.pk)).content.decode()
    assert "By phone. We will call you at the number you gave us." in page


def test_video_needs_a_video_service_and_an_unknown_modality_is_refused(
    api_client, coordinator, clinician, route, settings
):
    settings.VIDEO_ROOM_URL = ""
    api_client.force_authenticate(coordinator)
    lead_id = verified_lead(route)
    for modality, status in (("video", 400), ("carrier-pigeon", 400)):
        response = api_client.post(
            "/api/v1/appointments/",
            {
                "lead_id": lead_id,
                "clinician_id": clinician.pk,
                "starts_at": ny(30, 9).isoformat(),
                "modality": modality,
            },
            format="json",
        )
        assert response.status_code == status
        assert "modality" in response.json()["fields"]
    assert not Appointment.objects.exists()
