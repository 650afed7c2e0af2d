"""The person books, moves and cancels their own consultation from a texted link
(issue 25, item 3): the link goes only to a number the person proved, it is signed for
its purpose and expires, the page offers the open times in the person's zone, each
change is one conditional write (a race for one time gives it to one), a used link
never books twice, bad input gets a 400 with the field, a time taken meanwhile a 409
with the next open times, and coordinators see who changed what."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.apps import apps
from django.core import signing
from django.db import connection, connections

from intake.models import Lead
from intake.services import lead_details_verify
from notifications import refusals
from notifications import services as notification_services
from notifications.models import Message
from scheduling import links, services
from scheduling.models import Appointment, AppointmentChange, BookingLinkUse
from scheduling.selectors.self_booking import appointment_history
from scheduling.services import self_booking
from tests.factories import submit_lead
from tests.scheduling.conftest import MONDAY_MORNING, ny
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    settings.CLINIC_ADDRESS = "12 Elm Street, New Haven"
    settings.VIDEO_ROOM_URL = "https://meet.example.org/clinic-{room}"
    settings.BOOKING_LINK_MAX_AGE_HOURS = 72


def lead_reached(route, *, verified: bool = True, **fields) -> Lead:
    """A routed lead whose number a coordinator reached (verified), or not."""
    submission = submit_lead(**fields)
    route(submission)
    if verified:
        lead_details_verify(lead_id=submission.lead_id, phone=True, by=Lead.Verification.CALL)
    return Lead.objects.get(pk=submission.lead_id)


def booking_path(lead: Lead) -> str:
    return urlsplit(links.booking_url(lead_id=lead.pk, phone_hash=lead.phone_hash)).path


def token_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def slot(clinician, day: int, hour: int) -> str:
    return f"{clinician.pk}|{ny(day, hour).isoformat()}"


def callback_of(lead: Lead):
    return lead.callbacks.order_by("-pk").first()


# --- The link ------------------------------------------------------------------------


def test_a_booking_link_names_the_lead_and_a_nonce_of_its_own(route):
    lead = lead_reached(route)
    first, second = token_of(booking_path(lead)), token_of(booking_path(lead))
    one, other = links.booking_link(first), links.booking_link(second)
    assert (one.lead_id, other.lead_id) == (lead.pk, lead.pk)
    assert one.nonce != other.nonce
    assert one.opens_for(phone_hash=lead.phone_hash)
    assert not one.opens_for(phone_hash="0" * 64)
    # Ids only: the lead, the nonce, the start of the number's keyed hash, the time.
    payload = signing.loads(first, salt=links.BOOKING_SALT)
    assert set(payload) == {"l", "n", "p", "t"}
    assert payload["p"] == lead.phone_hash[:16] and str(lead.phone)[-4:] not in first


def test_an_altered_or_otherly_signed_link_does_not_open(route, clinician):
    lead = lead_reached(route)
    token = token_of(booking_path(lead))
    assert links.booking_link(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    # An appointment link is not a booking link, nor the other way round.
    appointment_token = token_of(links.appointment_manage_path(appointment_id=lead.pk))
    assert links.booking_link(appointment_token) is None
    assert links.appointment_id(token) is None
    forged = signing.dumps({"l": lead.pk, "n": "x", "p": "y", "t": 1}, salt="another")
    assert links.booking_link(forged) is None


def test_a_booking_link_expires(route, settings):
    lead = lead_reached(route)
    token = token_of(booking_path(lead))
    with time_machine.travel(MONDAY_MORNING + timedelta(hours=71), tick=False):
        assert links.booking_link(token) is not None
    with time_machine.travel(MONDAY_MORNING + timedelta(hours=73), tick=False):
        assert links.booking_link(token) is None


def test_a_link_closes_when_the_lead_has_another_number(client, route):
    lead = lead_reached(route)
    path = booking_path(lead)
    Lead.objects.filter(pk=lead.pk).update(phone_hash="f" * 64)
    assert client.get(path).status_code == 400


# --- Sending it ----------------------------------------------------------------------


def test_a_coordinator_texts_a_booking_link_to_the_number_they_reached(
    route, coordinator, sms_outbox, django_capture_on_commit_callbacks
):
    lead = lead_reached(route)
    with django_capture_on_commit_callbacks(execute=True):
        message = self_booking.booking_link_send(
            callback_id=callback_of(lead).pk, user_id=coordinator.pk
        )
    assert message.template == "booking_link"
    assert message.recipient == str(lead.phone)
    assert "Sterling Institute here" in message.body and "/b/" in message.body
    token = message.body.split("/b/", 1)[1].split("/", 1)[0]
    assert links.booking_link(token).lead_id == lead.pk
    assert sms_outbox[-1].body == message.body


def test_an_unverified_number_gets_no_booking_link(route, coordinator):
    lead = lead_reached(route, verified=False)
    before = Message.objects.count()
    with pytest.raises(self_booking.ApplicationError) as refused:
        self_booking.booking_link_send(callback_id=callback_of(lead).pk, user_id=coordinator.pk)
    assert refused.value.code == "phone_unverified"
    assert "not verified" in refused.value.message
    assert Message.objects.count() == before


def test_an_opted_out_number_gets_no_booking_link(route, coordinator):
    lead = lead_reached(route)
    notification_services.opt_out_record(phone=str(lead.phone), source="test")
    before = Message.objects.count()
    with pytest.raises(self_booking.ApplicationError) as refused:
        self_booking.booking_link_send(callback_id=callback_of(lead).pk, user_id=coordinator.pk)
    assert refused.value.code == "no_sms_consent"
    assert Message.objects.count() == before


def test_the_link_is_worded_discreetly_for_a_person_who_asked(route, coordinator, settings):
    lead = lead_reached(route)
    Lead.objects.filter(pk=lead.pk).update(mention_clinic_ok=False)
    message = self_booking.booking_link_send(
        callback_id=callback_of(lead).pk, user_id=coordinator.pk
    )
    assert settings.CLINIC_NAME not in message.body
    assert f"{settings.DISCREET_SENDER_NAME} here" in message.body


def test_a_person_in_crisis_gets_988_and_911_with_the_link(route, coordinator):
    lead = lead_reached(route, message="I want to end my life")
    message = self_booking.booking_link_send(
        callback_id=callback_of(lead).pk, user_id=coordinator.pk
    )
    assert message.template == "booking_link_crisis"
    assert "988" in message.body and "911" in message.body


def test_quiet_hours_hold_the_link(route, coordinator, settings):
    lead = lead_reached(route)
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "00:00", "23:59"
    message = self_booking.booking_link_send(
        callback_id=callback_of(lead).pk, user_id=coordinator.pk
    )
    assert message.status == Message.Status.SCHEDULED


def test_the_console_button_refuses_an_unverified_number_with_why(client, route, coordinator):
    lead = lead_reached(route, verified=False)
    verified_login(client, coordinator)
    callback = callback_of(lead)
    response = client.post(f"/console/callbacks/{callback.pk}/booking-link/", follow=True)
    assert "not verified" in response.content.decode()
    assert not Message.objects.filter(template__startswith="booking_link").exists()
    page = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    assert "A booking link goes only to a number the person proved" in page


def test_the_console_button_texts_a_verified_number(client, route, coordinator):
    lead = lead_reached(route)
    verified_login(client, coordinator)
    callback = callback_of(lead)
    assert (
        "Text a booking link" in client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    )
    response = client.post(f"/console/callbacks/{callback.pk}/booking-link/", follow=True)
    assert "Booking link texted." in response.content.decode()
    assert Message.objects.filter(template="booking_link").count() == 1


# --- The page ------------------------------------------------------------------------


def test_the_page_offers_the_open_times_by_day_in_the_persons_zone(client, route, clinician):
    lead = lead_reached(route)
    Lead.objects.filter(pk=lead.pk).update(timezone="America/Los_Angeles")
    response = client.get(booking_path(lead))
    assert response.status_code == 200
    page = response.content.decode()
    assert "America/Los_Angeles" in page
    assert "Monday, November 30" in page and "Tuesday, December 1" in page
    # 9:00 to 12:00 in New York is 6:00 to 9:00 in Los Angeles; 9:00 today is too soon.
    assert "7:00 AM" in page and "8:00 AM" in page and "6:00 AM" in page
    assert slot(clinician, 30, 10) in page
    assert "In person at Sterling Institute, 12 Elm Street, New Haven." in page
    assert "By phone" in page and "By video" in page


def test_the_page_falls_back_to_the_clinics_zone(client, route, clinician):
    lead = lead_reached(route)
    page = client.get(booking_path(lead)).content.decode()
    assert "America/New_York" in page and "10:00 AM" in page


def test_booking_from_the_page_books_as_the_person_and_shows_the_consultation(
    client, route, clinician, django_capture_on_commit_callbacks, sms_outbox
):
    lead = lead_reached(route)
    path = booking_path(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {"slot": slot(clinician, 30, 10), "modality": "video"})
    assert response.status_code == 302
    appointment = Appointment.objects.get(lead=lead)
    assert (appointment.starts_at, appointment.modality) == (ny(30, 10), "video")
    assert appointment.booked_by_id is None
    assert response["Location"].endswith("?done=booked")
    page = client.get(response["Location"]).content.decode()
    assert "Booked. We have sent you the details." in page
    assert "By video. Join at https://meet.example.org/clinic-" in page
    assert "is booked" in sms_outbox[-1].body or "booked" in sms_outbox[-1].body
    (change,) = appointment_history(lead_id=lead.pk)
    assert (change.kind, change.actor, change.user_id) == ("booked", "person_link", None)
    # The trail's own row of the booking says so too, with no user and no address.
    (inserted,) = apps.get_model("scheduling", "AppointmentEvent").objects.filter(
        pgh_obj_id=appointment.pk, pgh_label="insert"
    )
    assert inserted.pgh_context["actor"] == "person_link"
    assert not {"user", "ip", "user_agent"} & set(inserted.pgh_context)
    assert BookingLinkUse.objects.filter(appointment=appointment).count() == 1
    lead.refresh_from_db()
    assert lead.stage == Lead.Stage.CONSULT_BOOKED


def test_a_used_link_shows_its_consultation_and_never_books_a_second(client, route, clinician):
    lead = lead_reached(route)
    path = booking_path(lead)
    first = client.post(path, {"slot": slot(clinician, 30, 10), "modality": "phone"})
    appointment = Appointment.objects.get(lead=lead)
    services.appointment_cancel(appointment_id=appointment.pk, by_person=True)

    again = client.post(path, {"slot": slot(clinician, 30, 11), "modality": "phone"})

    assert again.status_code == 302
    assert urlsplit(again["Location"]).path == urlsplit(first["Location"]).path
    assert Appointment.objects.filter(lead=lead).count() == 1
    assert "Cancelled" in client.get(again["Location"]).content.decode()


def test_the_service_refuses_a_used_link(route, clinician):
    lead = lead_reached(route)
    link = links.booking_link(token_of(booking_path(lead)))
    appointment = self_booking.booking_link_book(
        link=link, clinician_id=clinician.pk, starts_at=ny(30, 10), modality=None
    )
    services.appointment_cancel(appointment_id=appointment.pk, by_person=True)
    with pytest.raises(self_booking.ApplicationError) as refused:
        self_booking.booking_link_book(
            link=link, clinician_id=clinician.pk, starts_at=ny(30, 11), modality=None
        )
    assert (refused.value.code, refused.value.status_code) == ("link_used", 400)
    assert Appointment.objects.filter(lead=lead).count() == 1


def test_a_lead_with_a_consultation_is_offered_move_and_cancel_instead(
    client, route, clinician, coordinator
):
    lead = lead_reached(route)
    appointment = services.appointment_book(
        lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 9 + 1), booked_by_id=None
    )
    response = client.get(booking_path(lead), follow=True)
    page = response.content.decode()
    assert response.redirect_chain[0][1] == 302
    assert "Move it to another time" in page and 'value="cancel"' in page
    assert appointment.pk == Appointment.objects.get(lead=lead).pk


@pytest.mark.parametrize(
    ("posted", "field_error"),
    [
        ("", "Choose a time."),
        ("nonsense", "Choose a time."),
        ("{pk}|2026-11-30T13:00:00+00:00", "That time has passed."),  # 8:00, now
        ("{pk}|2026-11-30T12:00:00+00:00", "That time has passed."),  # 7:00, gone
        ("{pk}|2026-11-30T22:00:00+00:00", "Not an offered time."),  # 17:00, closed
        ("{pk}|2026-12-01T14:30:00+00:00", "Not an offered time."),  # not a slot start
        ("{pk}|2027-03-01T14:00:00+00:00", "Not an offered time."),  # too far ahead
        ("999999|2026-12-01T14:00:00+00:00", "Not an offered time."),  # no such clinician
        ("99999999999999999999999|2026-12-01T14:00:00+00:00", "Not an offered time."),
        ("{pk}|2026-12-01T09:00:00", "Choose a time."),  # no zone: ambiguous
        ("{pk}|" + "9" * 5000, "Choose a time."),
    ],
)
def test_a_time_not_offered_gets_a_400_by_the_field_and_writes_nothing(
    client, route, clinician, posted, field_error
):
    lead = lead_reached(route)
    messages = Message.objects.count()
    response = client.post(
        booking_path(lead), {"slot": posted.format(pk=clinician.pk), "modality": "in_person"}
    )
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert not Appointment.objects.exists() and not BookingLinkUse.objects.exists()
    assert not AppointmentChange.objects.exists()
    assert Message.objects.count() == messages


def test_an_unknown_modality_gets_a_400(client, route, clinician):
    lead = lead_reached(route)
    response = client.post(booking_path(lead), {"slot": slot(clinician, 30, 10), "modality": "x"})
    assert response.status_code == 400
    assert "One of: in_person, video, phone." in response.content.decode()
    assert not Appointment.objects.exists()


def test_a_time_taken_meanwhile_gets_a_409_with_the_next_open_times(client, route, clinician):
    lead = lead_reached(route)
    path = booking_path(lead)
    other = lead_reached(route)
    services.appointment_book(
        lead_id=other.pk, clinician_id=clinician.pk, starts_at=ny(30, 10), booked_by_id=None
    )
    response = client.post(path, {"slot": slot(clinician, 30, 10), "modality": "in_person"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Someone else just took that time" in page
    assert "The next open times" in page
    assert slot(clinician, 30, 11) in page and slot(clinician, 30, 10) not in page
    assert not Appointment.objects.filter(lead=lead).exists()


def test_an_expired_or_forged_link_gets_a_clear_400(client, route):
    lead = lead_reached(route)
    path = booking_path(lead)
    assert client.get("/b/not-a-token/").status_code == 400
    with time_machine.travel(MONDAY_MORNING + timedelta(hours=73), tick=False):
        response = client.get(path)
    assert response.status_code == 400
    assert "This link no longer works" in response.content.decode()


def test_a_closed_lead_cannot_book(client, route, clinician):
    lead = lead_reached(route)
    Lead.objects.filter(pk=lead.pk).update(stage=Lead.Stage.CLOSED)
    assert client.get(booking_path(lead)).status_code == 400


def test_a_link_texted_before_a_refusal_books_nothing(client, route, clinician):
    """The person said on a call not to contact them: whoever holds the old text books
    no consultation (it would bring a call and messages), and the page says nothing
    of why."""
    lead = lead_reached(route)
    path = booking_path(lead)
    refusals.refusal_record(
        phone=str(lead.phone), email=lead.email, recorded_by_id=None, source="call"
    )

    assert client.get(path).status_code == 400
    posted = client.post(path, {"slot": slot(clinician, 30, 10), "modality": "phone"})
    assert posted.status_code == 400
    assert not Appointment.objects.filter(lead=lead).exists()


def test_a_person_who_texted_stop_may_book_but_gets_no_text(
    client, route, clinician, django_capture_on_commit_callbacks
):
    """STOP ends texts, not care: the person may still book from the link they hold,
    and the confirmation goes by every other way they proved, never by text."""
    lead = lead_reached(route)
    path = booking_path(lead)
    notification_services.opt_out_record(phone=str(lead.phone), source="test: STOP")

    with django_capture_on_commit_callbacks(execute=True):
        booked = client.post(path, {"slot": slot(clinician, 30, 10), "modality": "phone"})

    assert booked.status_code == 302
    assert Appointment.objects.filter(lead=lead, status="booked").exists()
    texts = Message.objects.filter(correlation=f"lead:{lead.pk}", channel="sms")
    assert not texts.filter(template__startswith="appointment_booked").exclude(
        status=Message.Status.SUPPRESSED
    )


# --- Moving and cancelling from the appointment's page -------------------------------


def test_the_person_moves_their_consultation_from_its_page(
    client, route, clinician, django_capture_on_commit_callbacks, sms_outbox
):
    lead = lead_reached(route)
    appointment = services.appointment_book(
        lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 10), booked_by_id=None
    )
    path = links.appointment_manage_path(appointment_id=appointment.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {"action": "move", "slot": slot(clinician, 30, 11)})
    assert response.status_code == 200
    assert "Moved. We have sent you the new time." in response.content.decode()
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.ics_sequence) == (ny(30, 11), 1)
    assert "is moved to Monday, November 30 at 11:00 AM EST" in sms_outbox[-1].body
    moved = appointment_history(lead_id=lead.pk)[0]
    assert (moved.kind, moved.actor) == ("moved", "person_link")
    assert (moved.previous_starts_at, moved.starts_at) == (ny(30, 10), ny(30, 11))


def test_a_move_to_a_taken_time_gets_a_409_and_changes_nothing(client, route, clinician):
    lead = lead_reached(route)
    appointment = services.appointment_book(
        lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 10), booked_by_id=None
    )
    services.appointment_book(
        lead_id=lead_reached(route).pk,
        clinician_id=clinician.pk,
        starts_at=ny(30, 11),
        booked_by_id=None,
    )
    path = links.appointment_manage_path(appointment_id=appointment.pk)
    response = client.post(path, {"action": "move", "slot": slot(clinician, 30, 11)})
    assert response.status_code == 409
    assert "The next open times" in response.content.decode()
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.ics_sequence) == (ny(30, 10), 0)
    bad = client.post(path, {"action": "move", "slot": "junk"})
    assert bad.status_code == 400 and "Choose a time." in bad.content.decode()


def test_a_self_move_cancels_the_old_reminders_and_schedules_new_ones(
    route, clinician, django_capture_on_commit_callbacks
):
    lead = lead_reached(route)
    with time_machine.travel(ny(27, 9), tick=False):  # booked three days ahead
        appointment = services.appointment_book(
            lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 10), booked_by_id=None
        )
    # The 24-hour reminder, held by quiet hours (so it has not gone yet).
    with time_machine.travel(ny(29, 10, 30), tick=False):
        assert services.appointment_reminders_send() == 1
    old = Message.objects.filter(dedupe_key__startswith=f"appointment-reminder:{appointment.pk}:")
    assert old.exists()
    old_ids = set(old.values_list("pk", flat=True))
    Message.objects.filter(pk__in=old_ids).update(
        status=Message.Status.SCHEDULED, send_after=ny(30, 8)
    )

    with (
        time_machine.travel(ny(29, 12), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        self_booking.appointment_self_move(
            appointment_id=appointment.pk,
            clinician_id=clinician.pk,
            starts_at=ny(30, 11) + timedelta(days=1),
        )
    assert set(Message.objects.filter(pk__in=old_ids).values_list("status", "error_code")) == {
        (Message.Status.SUPPRESSED, "cancelled")
    }
    with time_machine.travel(ny(30, 11, 30), tick=False):
        assert services.appointment_reminders_send() == 1  # the new time's 24-hour
    new = Message.objects.filter(dedupe_key__startswith="appointment-reminder:").exclude(
        pk__in=old_ids
    )
    assert {key.rsplit(":", 1)[0] for key in new.values_list("dedupe_key", flat=True)} == {
        f"appointment-reminder:{appointment.pk}:1:24h"
    }


def test_cancelling_from_the_page_is_recorded_as_the_person(client, route, clinician):
    lead = lead_reached(route)
    appointment = services.appointment_book(
        lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 10), booked_by_id=None
    )
    path = links.appointment_manage_path(appointment_id=appointment.pk)
    assert "It is cancelled." in client.post(path, {"action": "cancel_confirmed"}).content.decode()
    cancelled = appointment_history(lead_id=lead.pk)[0]
    assert (cancelled.kind, cancelled.actor) == ("cancelled", "person_link")


# --- Who changed what ----------------------------------------------------------------


def test_coordinators_see_who_changed_what(client, route, clinician, coordinator):
    lead = lead_reached(route)
    verified_login(client, coordinator)
    callback = callback_of(lead)
    appointment = services.appointment_book(
        lead_id=lead.pk,
        clinician_id=clinician.pk,
        starts_at=ny(30, 10),
        booked_by_id=coordinator.pk,
    )
    self_booking.appointment_self_move(
        appointment_id=appointment.pk, clinician_id=clinician.pk, starts_at=ny(30, 11)
    )
    client.post(f"/console/appointments/{appointment.pk}/mark/", {"action": "cancel"})

    kinds = [(c.kind, c.actor, c.user_id) for c in appointment_history(lead_id=lead.pk)]
    assert kinds == [
        ("cancelled", "coordinator", coordinator.pk),
        ("moved", "person_link", None),
        ("booked", "coordinator", coordinator.pk),
    ]
    page = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    assert "Consultation changes" in page
    assert "Moved</strong> by the person, by their link" in page
    assert f"Booked</strong> by {coordinator.get_username()}" in page
    listing = client.get("/console/appointments/").content.decode()
    assert f"Cancelled by {coordinator.get_username()}" in listing


def test_a_coordinators_move_through_the_api_is_recorded_as_theirs(
    api_client, route, clinician, coordinator
):
    lead = lead_reached(route)
    appointment = services.appointment_book(
        lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 10), booked_by_id=None
    )
    api_client.force_authenticate(coordinator)
    response = api_client.post(
        f"/api/v1/appointments/{appointment.pk}/move/",
        {"starts_at": ny(30, 11).isoformat()},
        format="json",
    )
    assert response.status_code == 200
    moved, booked = appointment_history(lead_id=lead.pk)
    assert (moved.actor, moved.user_id) == ("coordinator", coordinator.pk)
    assert (booked.actor, booked.user_id) == ("clinic", None)


# --- The race ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_people_racing_for_one_time_from_their_links_give_it_to_one(clinician, route):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, there is no race to test")
    tokens = [token_of(booking_path(lead_reached(route))) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def book(index: int) -> None:
        try:
            start.wait()
            outcomes[index] = self_booking.booking_link_book(
                link=links.booking_link(tokens[index]),
                clinician_id=clinician.pk,
                starts_at=ny(30, 10),
                modality=None,
            )
        except services.SlotTaken as error:
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    won = [each for each in outcomes.values() if isinstance(each, Appointment)]
    lost = [each for each in outcomes.values() if isinstance(each, services.SlotTaken)]
    assert (len(won), len(lost)) == (1, 1)
    assert lost[0].status_code == 409 and lost[0].code == "slot_taken"
    assert lost[0].next_slots and ny(30, 10) not in [each.starts_at for each in lost[0].next_slots]
    assert Appointment.objects.filter(starts_at=ny(30, 10)).count() == 1
    assert BookingLinkUse.objects.count() == 1
    assert AppointmentChange.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_link_used_twice_at_once_books_once(clinician, route):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, there is no race to test")
    link = links.booking_link(token_of(booking_path(lead_reached(route))))
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def book(hour: int) -> None:
        try:
            start.wait()
            self_booking.booking_link_book(
                link=link, clinician_id=clinician.pk, starts_at=ny(30, hour), modality=None
            )
            outcomes[hour] = "booked"
        except self_booking.ApplicationError as error:
            outcomes[hour] = error.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book, args=(hour,)) for hour in (10, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) in (["booked", "link_used"], ["already_booked", "booked"])
    assert Appointment.objects.count() == 1
    assert BookingLinkUse.objects.count() == 1


def test_the_page_names_nothing_of_the_person_and_keeps_discretion(client, route, clinician):
    lead = lead_reached(route, first_name="Robin", last_name="Okafor")
    Lead.objects.filter(pk=lead.pk).update(mention_clinic_ok=False)
    page = client.get(booking_path(lead)).content.decode()
    for value in ("Robin", "Okafor", lead.email, lead.phone.as_national, str(lead.phone)):
        assert value not in page
    assert "In person at 12 Elm Street, New Haven." in page
    assert "In person at Sterling Institute" not in page


def test_a_person_in_crisis_who_books_from_their_link_is_still_called(
    client, route, clinician, django_capture_on_commit_callbacks
):
    """Booking from a link is not a conversation: nobody reached the person, so a
    crisis callback stays open (its retries, its urgent alert) until a coordinator
    does. Another person's link booking closes their callback as before."""
    crisis = lead_reached(route, message="I want to end my life")
    calm = lead_reached(route)
    with django_capture_on_commit_callbacks(execute=True):
        for lead, hour in ((crisis, 10), (calm, 11)):
            booked = client.post(
                booking_path(lead), {"slot": slot(clinician, 30, hour), "modality": "phone"}
            )
            assert booked.status_code == 302

    assert Appointment.objects.filter(lead__in=[crisis, calm], status="booked").count() == 2
    assert callback_of(crisis).status == "open"
    assert callback_of(calm).status == "done"


def test_cancelling_from_the_page_asks_once_more_and_a_stale_yes_does_nothing(
    client, route, clinician
):
    lead = lead_reached(route)
    appointment = services.appointment_book(
        lead_id=lead.pk, clinician_id=clinician.pk, starts_at=ny(30, 10), booked_by_id=None
    )
    path = links.appointment_manage_path(appointment_id=appointment.pk)

    asked = client.post(path, {"action": "cancel"}).content.decode()
    assert "Cancel this consultation?" in asked and "Yes, cancel it" in asked
    assert "Move to this time" not in asked  # one question at a time
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert appointment_history(lead_id=lead.pk)[0].kind == "booked"

    client.post(path, {"action": "cancel_confirmed"})
    again = client.post(path, {"action": "cancel_confirmed"}).content.decode()
    assert "It is cancelled." not in again  # the second yes found nothing to cancel
    assert (
        "Cancel this consultation?" not in client.post(path, {"action": "cancel"}).content.decode()
    )
    kinds = [change.kind for change in appointment_history(lead_id=lead.pk)]
    assert kinds.count("cancelled") == 1
