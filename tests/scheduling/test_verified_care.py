"""Details that came from an anonymous form are unverified until the person proves
them (answering a call to the number, texting from it) or a coordinator confirms them
with the person. Care goes only to verified details: appointment confirmations,
reminders, calendar invitations and appointment links. A link sent to an unverified
address can cancel that one request, never an appointment (issue 20, item 4)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import time_machine
from django.core import mail
from django.db import connection

from intake.models import Lead, LeadEvent
from notifications.models import Message
from notifications.services import inbound_receive
from scheduling import services
from scheduling.models import Appointment
from tests.factories import submit_lead
from tests.scheduling.conftest import MONDAY_MORNING, ny
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

PHONE = "+12025550143"
EMAIL = "maria.lopez@example.org"
STRANGER_EMAIL = "stranger@example.net"
NOTICE = (
    "No verified detail to send the confirmation to: "
    "confirm the phone or email with the person first"
)


@pytest.fixture(autouse=True)
def _monday(monday_morning_in_new_york):
    """Every test here runs on Monday morning in New York (tests/scheduling/conftest.py)."""


@pytest.fixture
def callback(route):
    """A request from a form: its phone, email and name are whatever was typed."""
    return route(submit_lead(first_name="Maria", phone=PHONE, email=EMAIL))


@pytest.fixture
def log(coordinator, django_capture_on_commit_callbacks):
    """The coordinator claims the callback and logs a call on it."""

    def run(callback, outcome: str) -> None:
        services.callback_claim_next(user_id=coordinator.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome=outcome)

    return run


@pytest.fixture
def book(clinician, django_capture_on_commit_callbacks):
    def run(lead_id: int, at: datetime | None = None) -> Appointment:
        with django_capture_on_commit_callbacks(execute=True):
            return services.appointment_book(
                lead_id=lead_id,
                clinician_id=clinician.pk,
                starts_at=at or ny(30, 10),
                booked_by_id=None,
            )

    return run


def care_messages(**filters) -> list[Message]:
    """Messages about an appointment (not the request's own confirmation)."""
    return list(Message.objects.filter(template__startswith="appointment_", **filters))


def care_emails() -> list:
    return [m for m in mail.outbox if m.subject.startswith(("Your consultation", "Reminder"))]


def lead_of(callback) -> Lead:
    return Lead.objects.get(pk=callback.lead_id)


# --- Nothing from a form is verified ------------------------------------------------------


def test_a_phone_email_and_name_typed_into_a_form_start_unverified(callback):
    lead = lead_of(callback)

    assert (lead.phone_verified_at, lead.email_verified_at, lead.name_confirmed_at) == (
        None,
        None,
        None,
    )


def test_a_booking_never_sends_the_appointment_to_a_phone_or_email_a_stranger_typed(
    api_client, coordinator, clinician, callback, sms_outbox, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(coordinator)
    sms_outbox.clear()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        booked = api_client.post(
            "/api/v1/appointments/",
            {
                "lead_id": callback.lead_id,
                "clinician_id": clinician.pk,
                "starts_at": ny(30, 10).isoformat(),
            },
            format="json",
        )

    # Booking stays possible: the coordinator is on the phone with the person.
    assert booked.status_code == 201, booked.content
    assert Appointment.objects.get().status == Appointment.Status.BOOKED
    assert care_messages() == []
    assert sms_outbox == [] and care_emails() == []
    assert booked.json()["confirmation_sent_to"] == []
    assert NOTICE in booked.json()["notice"]


def test_the_console_booking_tells_the_coordinator_that_no_detail_is_verified(
    client, coordinator, clinician, route
):
    email_only = route(submit_lead(first_name="Maria", phone=None, email=EMAIL))
    services.callback_claim_next(user_id=coordinator.pk)
    verified_login(client, coordinator)
    mail.outbox.clear()

    page = client.post(
        f"/console/callbacks/{email_only.pk}/book/",
        {"slot": f"{clinician.pk}|{ny(30, 10).isoformat()}"},
        follow=True,
    )

    assert page.status_code == 200
    assert Appointment.objects.get().status == Appointment.Status.BOOKED
    assert NOTICE in page.content.decode()
    assert care_emails() == []


# --- What the person proves ------------------------------------------------------------------


def test_an_appointment_confirmation_never_goes_to_an_unverified_email(
    callback, log, book, sms_outbox
):
    log(callback, "reached")  # the person answered a call to the number: the phone is theirs
    lead = lead_of(callback)
    assert lead.phone_verified_by == Lead.Verification.CALL
    assert lead.email_verified_at is None
    sms_outbox.clear()
    mail.outbox.clear()

    book(lead.pk)

    assert [m.to for m in sms_outbox] == [PHONE]
    assert "consultation" in sms_outbox[0].body
    assert care_emails() == []
    assert not [m for m in mail.outbox if m.attachments]  # no calendar invitation
    assert care_messages(channel="email") == []


def test_an_appointment_reminder_never_goes_to_an_unverified_email(
    callback, log, clinician, django_capture_on_commit_callbacks
):
    log(callback, "reached")
    with time_machine.travel(ny(27, 9), tick=False):  # booked three days ahead
        Appointment.objects.create(
            lead_id=callback.lead_id, clinician=clinician, starts_at=ny(30, 10), ends_at=ny(30, 11)
        )
    mail.outbox.clear()

    with (
        time_machine.travel(ny(29, 11), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.appointment_reminders_send() == 1

    reminders = care_messages(purpose="reminder")
    assert [(m.channel, m.recipient) for m in reminders] == [("sms", PHONE)]
    assert care_emails() == []


def test_no_reminder_goes_anywhere_while_nothing_is_verified(
    callback, clinician, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(27, 9), tick=False):
        Appointment.objects.create(
            lead_id=callback.lead_id, clinician=clinician, starts_at=ny(30, 10), ends_at=ny(30, 11)
        )

    with (
        time_machine.travel(ny(29, 11), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.appointment_reminders_send()

    assert care_messages() == []


def test_a_cancellation_notice_never_goes_to_an_unverified_email(
    callback, log, book, django_capture_on_commit_callbacks
):
    log(callback, "reached")
    appointment = book(callback.lead_id)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=appointment.pk, by_person=True)

    cancelled = care_messages(template="appointment_cancelled")
    assert [(m.channel, m.recipient) for m in cancelled] == [("sms", PHONE)]
    assert mail.outbox == []


def test_the_invitation_and_appointment_link_go_to_an_email_the_coordinator_confirmed(
    client, coordinator, callback, book
):
    verified_login(client, coordinator)
    client.post(f"/console/callbacks/{callback.pk}/verify-details/", {"email": "on"})
    lead = lead_of(callback)
    assert lead.email_verified_by == Lead.Verification.COORDINATOR
    mail.outbox.clear()

    book(lead.pk)

    (invitation,) = care_emails()
    assert invitation.to == [EMAIL]
    assert invitation.attachments[0][0] == "consultation.ics"
    assert "/a/" in invitation.body


def test_a_text_from_the_leads_number_proves_the_phone(
    callback, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SMproof", sender=PHONE, body="Yes, after 5 is best")

    lead = lead_of(callback)
    assert lead.phone_verified_by == Lead.Verification.SMS_REPLY
    assert lead.phone_verified_at is not None
    assert lead.email_verified_at is None and lead.name_confirmed_at is None


def test_a_text_from_another_number_proves_nothing(callback, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SMother", sender="+12025550199", body="Yes, after 5")

    assert lead_of(callback).phone_verified_at is None


def test_an_unanswered_call_proves_nothing(callback, log):
    log(callback, "no_answer")

    assert lead_of(callback).phone_verified_at is None


def test_opening_or_using_a_request_link_proves_no_email(client, callback):
    (confirmation,) = [m for m in mail.outbox if m.to == [EMAIL]]
    path = re.search(r"https?://[^/\s]+(/r/[^\s\"<]+/)", confirmation.body).group(1)

    assert client.get(path).status_code == 200
    client.post(path, {"action": "restrict", "no_voicemail": "on"})

    assert lead_of(callback).email_verified_at is None


# --- A request link reaches the request, never the care ------------------------------------


def test_a_request_link_can_never_cancel_an_appointment(
    client, coordinator, clinician, route, sms_outbox
):
    # A stranger asks first, with the person's number and the stranger's own address.
    stranger = route(submit_lead(first_name="Maria", phone=PHONE, email=STRANGER_EMAIL))
    (confirmation,) = [m for m in mail.outbox if m.to == [STRANGER_EMAIL]]
    path = re.search(r"https?://[^/\s]+(/r/[^\s\"<]+/)", confirmation.body).group(1)
    # A coordinator reaches the person on that number and books their consultation.
    services.callback_claim_next(user_id=coordinator.pk)
    verified_login(client, coordinator)
    client.post(
        f"/console/callbacks/{stranger.pk}/book/",
        {"slot": f"{clinician.pk}|{ny(30, 10).isoformat()}"},
    )
    appointment = Appointment.objects.get()
    client.logout()
    mail.outbox.clear()

    client.post(path, {"action": "cancel"})
    client.post(path, {"action": "cancel_confirmed"})

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert lead_of(stranger).stage == Lead.Stage.CONSULT_BOOKED
    assert care_messages(template="appointment_cancelled") == []
    assert [m for m in mail.outbox if m.to == [STRANGER_EMAIL]] == []


# --- The callback page ------------------------------------------------------------------------


def test_the_callback_page_shows_which_details_are_verified_and_how(
    client, coordinator, callback, log
):
    verified_login(client, coordinator)
    before = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    section = before[before.index('id="verification-heading"') :]

    assert section.count("Not verified") == 2  # phone and email
    assert "Not confirmed" in section  # the name

    log(callback, "reached")
    after = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    section = after[after.index('id="verification-heading"') :]

    assert section.count("Not verified") == 1  # the email
    assert "the person answered a call to it" in section
    assert "Mon 30 Nov" in section  # when


def test_a_coordinator_confirms_the_leads_own_details_with_the_person_on_the_record(
    client, coordinator, callback
):
    verified_login(client, coordinator)

    response = client.post(
        f"/console/callbacks/{callback.pk}/verify-details/",
        {"phone": "on", "email": "on", "name": "on"},
    )

    assert response.status_code == 302
    lead = lead_of(callback)
    assert lead.phone_verified_by == lead.email_verified_by == Lead.Verification.COORDINATOR
    assert lead.name_confirmed_at == lead.phone_verified_at == MONDAY_MORNING
    if connection.vendor == "postgresql":
        (event,) = LeadEvent.objects.filter(
            pgh_obj_id=lead.pk, pgh_label="update", email_verified_by="coordinator"
        )
        assert event.pgh_context["user"] == coordinator.pk
        assert event.pgh_context["roles"] == ["coordinator"]


def test_marketing_cannot_mark_details_verified(client, marketer, callback):
    verified_login(client, marketer)

    response = client.post(
        f"/console/callbacks/{callback.pk}/verify-details/", {"phone": "on", "email": "on"}
    )

    assert response.status_code == 403
    assert lead_of(callback).phone_verified_at is None


def test_confirming_a_later_requests_details_moves_the_verification_with_them(
    client, coordinator, callback, log, route
):
    log(callback, "reached")  # the first number is proven
    later = submit_lead(first_name="Maria", phone="+12025550177", email=EMAIL)
    verified_login(client, coordinator)

    with time_machine.travel(ny(30, 9), tick=False):
        client.post(
            f"/console/callbacks/{callback.pk}/confirm-details/", {"submission_id": later.pk}
        )

    lead = lead_of(callback)
    assert str(lead.phone) == "+12025550177"
    assert lead.phone_verified_by == Lead.Verification.COORDINATOR
    assert lead.phone_verified_at == ny(30, 9)
    assert lead.email_verified_by == Lead.Verification.COORDINATOR
    assert lead.name_confirmed_at == ny(30, 9)
