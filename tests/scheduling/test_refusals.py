"""A person's "do not contact" is a refusal that no form lifts (issue 20, item 1).

When a coordinator records that a person asked not to be contacted, the refusal
belongs to the person's phone and email (their keyed hashes), not to one lead. A
later form naming either gets the same answer as anyone's, but no automated text,
email or call goes to a refused address; its callback opens "previously refused",
and a call is logged only once a coordinator has acknowledged it. Only the person,
on a channel they control (START from the phone, or telling a coordinator), lifts
it. Each test is named for the attack it stops."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic import business_time
from clinic.crypto import email_hash, phone_hash
from clinic.errors import ApplicationError
from intake.models import Lead, Submission
from intake.services import lead_erase
from notifications import services as notification_services
from notifications.models import Message, OptOut, Refusal
from scheduling.models import CallAttempt, Callback
from scheduling.services import (
    attempt_log,
    callback_claim_next,
    callback_refusal_acknowledge,
    lead_refusal_lift,
)
from tests.factories import ArticleFactory
from tests.scheduling.public_form import EMAIL, PHONE, URL, form_body, form_poster
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

OTHER_PHONE = "+12025550177"
OTHER_EMAIL = "someone.else@example.net"
LATER = timedelta(days=2)  # past the one-confirmation-a-day limit


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    return form_poster(api_client, django_capture_on_commit_callbacks)


def live_callback(submission) -> Callback:
    return Callback.objects.get(
        lead_id=Submission.objects.get(pk=submission.pk).lead_id, status__in=["open", "claimed"]
    )


def log(callback, user, outcome, capture, **kwargs):
    with capture(execute=True):
        # Closing outcomes are confirmed by naming them again (the console's dialog).
        kwargs.setdefault("confirm", outcome)
        return attempt_log(callback_id=callback.pk, user_id=user.pk, outcome=outcome, **kwargs)


@pytest.fixture
def refused(post, coordinator, django_capture_on_commit_callbacks, sms_outbox):
    """Maria asked a coordinator, on the phone, never to be contacted again."""
    _response, submission = post()
    callback = callback_claim_next(user_id=coordinator.pk)
    assert callback.lead_id == Submission.objects.get(pk=submission.pk).lead_id
    log(callback, coordinator, "do_not_contact", django_capture_on_commit_callbacks)
    mail.outbox.clear()
    sms_outbox.clear()
    return Lead.objects.get(pk=callback.lead_id)


@pytest.fixture
def later():
    with time_machine.travel(timezone.now() + LATER):
        yield


def emails_to(address):
    return [message for message in mail.outbox if message.to == [address]]


def without_link(text: str) -> str:
    return re.sub(r"/r/[^\s\"<]+/", "/r/T/", text)


# --- The refusal is the person's, and a later form does not reach them ------------------


def test_do_not_contact_refuses_the_persons_phone_and_email_not_one_lead(refused, coordinator):
    refusals = Refusal.objects.filter(lifted_at__isnull=True)

    assert {(r.channel, r.value_hash) for r in refusals} == {
        (Refusal.Channel.PHONE, phone_hash(PHONE)),
        (Refusal.Channel.EMAIL, email_hash(EMAIL)),
    }
    assert {r.recorded_by_id for r in refusals} == {coordinator.pk}
    # It also counts as an opt-out of texts.
    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()


def test_a_form_naming_a_refused_phone_gets_no_text(refused, post, later, sms_outbox):
    _response, submission = post(email=OTHER_EMAIL)

    assert [text for text in sms_outbox if text.to == PHONE] == []
    assert not Message.objects.filter(
        channel="sms", recipient=PHONE, dedupe_key__endswith=f":{submission.pk}"
    ).exclude(status="suppressed")
    assert len(emails_to(OTHER_EMAIL)) == 1  # the other address: as for anyone


def test_a_form_naming_a_refused_email_gets_no_email(refused, post, later, sms_outbox):
    post(phone=OTHER_PHONE)

    assert emails_to(EMAIL) == []
    assert Message.objects.filter(
        channel="email", purpose="confirmation", status="suppressed", error_code="refused"
    ).exists()


def test_a_strangers_own_address_gets_the_same_confirmation_whether_the_phone_is_refused(
    refused, post, later, sms_outbox
):
    refused_response, _ = post(email="prober1@example.net", first_name="Pat")
    unknown_response, _ = post(phone=OTHER_PHONE, email="prober2@example.net", first_name="Pat")

    (known,), (unknown,) = emails_to("prober1@example.net"), emails_to("prober2@example.net")
    assert (known.subject, without_link(known.body)) == (
        unknown.subject,
        without_link(unknown.body),
    )
    # The answer, too: the same status and the same fields.
    assert refused_response.status_code == unknown_response.status_code == 201
    assert set(refused_response.json()) == set(unknown_response.json())
    assert refused_response.json()["status"] == unknown_response.json()["status"]
    assert set(refused_response.json()["callback_window"]) == set(
        unknown_response.json()["callback_window"]
    )


def test_the_answer_to_a_form_naming_a_refused_phone_does_the_same_work_as_for_anyone(
    refused, api_client, later
):
    """The same queries in the request (the timing class): the POST never looks."""
    ArticleFactory(slug="science-behind-antidepressants")

    def queries(**overrides):
        with CaptureQueriesContext(connection) as captured:
            response = api_client.post(
                URL, form_body(**overrides), format="json", REMOTE_ADDR="192.0.2.50"
            )
        assert response.status_code == 201
        return [re.sub(r"'[^']*'|\d+", "?", query["sql"]) for query in captured.captured_queries]

    assert queries(email="first@example.net") == queries(
        phone=OTHER_PHONE, email="second@example.net"
    )


def test_a_later_form_cannot_lift_a_refusal(refused, post, later):
    post(sms_consent=True, contact_preferences={"voicemail_ok": True, "mention_clinic_ok": True})

    assert Refusal.objects.filter(lifted_at__isnull=True).count() == 2
    assert OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()


def test_the_link_in_a_confirmation_email_cannot_lift_a_refusal(refused, post, later, client):
    post(email="prober@example.net")  # the refused phone, and the stranger's own address
    (email,) = emails_to("prober@example.net")
    path = re.search(r"https?://[^/\s]+(/r/[^\s\"<]+/)", email.body).group(1)

    for action in ({"action": "restrict", "stop_texts": "on"}, {"action": "cancel"}):
        client.post(path, action)
    client.post(path, {"action": "preferences", "texts_ok": "on", "contact_ok": "on"})

    assert Refusal.objects.filter(lifted_at__isnull=True).count() == 2


def test_a_refused_address_gets_nothing_even_from_a_message_queued_before_the_refusal(
    post, coordinator, django_capture_on_commit_callbacks, sms_outbox, settings
):
    """Already queued follow-ups are suppressed, and the delivery path checks again
    before the provider is called."""
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "00:00", "23:59"  # texts wait
    _response, submission = post()
    lead = Lead.objects.get(pk=Submission.objects.get(pk=submission.pk).lead_id)
    queued = notification_services.message_send(
        channel="sms",
        purpose="follow_up",
        recipient=PHONE,
        template="missed_call",
        context={"first_name": "Maria"},
        correlation=f"lead:{lead.pk}",
    )
    assert queued.status == Message.Status.SCHEDULED
    straggler = notification_services.message_send(
        channel="email",
        purpose="follow_up",
        recipient=EMAIL,
        template="missed_call",
        context={"first_name": "Maria"},
    )
    callback = callback_claim_next(user_id=coordinator.pk)
    log(callback, coordinator, "do_not_contact", django_capture_on_commit_callbacks)

    queued.refresh_from_db()
    assert (queued.status, queued.error_code) == ("suppressed", "refused")
    straggler.refresh_from_db()
    assert (straggler.status, straggler.error_code) == ("suppressed", "refused")
    # A message that escaped the sweep (claimed again by a stale worker) is refused
    # at delivery.
    Message.objects.filter(pk=straggler.pk).update(status="pending", error_code="")
    mail.outbox.clear()
    delivered = notification_services.message_deliver(message_id=straggler.pk)
    assert (delivered.status, delivered.error_code) == ("failed", "refused")
    assert emails_to(EMAIL) == []


def test_staff_alerts_still_reach_a_staff_address_that_was_once_refused(
    refused, settings, django_capture_on_commit_callbacks
):
    settings.STAFF_ALERT_EMAILS = [EMAIL]

    with django_capture_on_commit_callbacks(execute=True):
        notification_services.staff_alert(title="Test", text="No personal details.")

    assert len(emails_to(EMAIL)) == 1


# --- The callback opens "previously refused" --------------------------------------------


def test_the_callback_of_a_refused_person_shows_the_refusal_above_any_contact_detail(
    refused, post, later, client, supervisor, coordinator
):
    _response, submission = post()
    callback = live_callback(submission)
    verified_login(client, supervisor)

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert "Previously refused" in html
    refusal = html.index("Previously refused")
    assert refusal < html.index('href="tel:') and refusal < html.index(EMAIL)
    section = html[refusal : html.index("</section>", refusal)]
    assert coordinator.get_username() in section  # by whom
    assert "Phone" in section and "Email" in section  # which channels
    recorded = Refusal.objects.filter(channel="phone").get().recorded_at
    # When, in the clinic's time as the console shows it (not UTC: near midnight they differ).
    assert recorded.astimezone(business_time.clinic_zone()).strftime("%-d %b") in section
    assert PHONE not in section and EMAIL not in section


def test_a_call_cannot_be_logged_on_a_previously_refused_callback_until_acknowledged(
    refused, post, later, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    _response, submission = post()
    callback = callback_claim_next(user_id=coordinator.pk)
    assert callback.pk == live_callback(submission).pk

    for outcome in ("reached", "no_answer", "do_not_contact"):
        with pytest.raises(ApplicationError) as error:
            log(callback, coordinator, outcome, django_capture_on_commit_callbacks)
        assert (error.value.status_code, error.value.code) == (409, "refusal_unacknowledged")
    assert not CallAttempt.objects.filter(callback=callback).exists()

    callback_refusal_acknowledge(callback_id=callback.pk, user_id=coordinator.pk)
    log(callback, coordinator, "no_answer", django_capture_on_commit_callbacks)

    # Still refused: the "we tried to call you" text does not go to the refused phone.
    assert sms_outbox == []
    callback.refresh_from_db()
    assert (callback.refusal_acknowledged_by_id, callback.unanswered_attempts) == (
        coordinator.pk,
        1,
    )


def test_the_console_refuses_to_log_a_call_until_the_refusal_is_acknowledged(
    refused, post, later, client, coordinator
):
    post()
    verified_login(client, coordinator)
    client.post("/console/next/")
    callback = Callback.objects.get(status="claimed")

    page = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    response = client.post(f"/console/callbacks/{callback.pk}/attempt/", {"outcome": "reached"})

    assert 'name="outcome" value="reached"' in page
    assert re.search(r'name="outcome" value="reached"[^>]*disabled', page)
    assert response.status_code == 409  # the service's refusal_unacknowledged
    assert "acknowledge" in response.content.decode().lower()
    assert not CallAttempt.objects.filter(callback=callback).exists()

    client.post(f"/console/callbacks/{callback.pk}/refusal/acknowledge/")
    client.post(f"/console/callbacks/{callback.pk}/attempt/", {"outcome": "reached"})

    assert CallAttempt.objects.filter(callback=callback, outcome="reached").exists()


def test_the_api_refuses_to_log_a_call_until_the_refusal_is_acknowledged(
    refused, post, later, api_client, coordinator
):
    post()
    api_client.force_authenticate(coordinator)
    callback_id = api_client.post("/api/v1/callbacks/claim-next/").json()["id"]
    attempts = f"/api/v1/callbacks/{callback_id}/attempts/"

    refused_answer = api_client.post(attempts, {"outcome": "reached"}, format="json")

    assert refused_answer.status_code == 409
    assert refused_answer.json()["code"] == "refusal_unacknowledged"
    assert set(refused_answer.json()) == {"code", "message"}

    acknowledged = api_client.post(f"/api/v1/callbacks/{callback_id}/refusal/acknowledge/")
    assert acknowledged.status_code == 200
    body = acknowledged.json()
    assert {(r["channel"], r["recorded_by"]) for r in body["refusals"]} == {
        ("phone", coordinator.get_username()),
        ("email", coordinator.get_username()),
    }
    assert body["acknowledged_at"]
    assert api_client.post(attempts, {"outcome": "reached"}, format="json").status_code == 201


def test_booking_from_the_console_is_a_logged_call_and_waits_for_the_acknowledgement(
    refused, post, later, coordinator
):
    from scheduling.services import callback_book

    post()
    callback = callback_claim_next(user_id=coordinator.pk)

    with pytest.raises(ApplicationError) as error:
        callback_book(
            callback_id=callback.pk,
            user_id=coordinator.pk,
            clinician_id=1,
            starts_at=timezone.now() + timedelta(days=1),
        )
    assert error.value.code == "refusal_unacknowledged"


def test_a_submission_that_adds_a_refused_phone_to_another_persons_lead_marks_its_callback(
    refused, post, later, coordinator, django_capture_on_commit_callbacks
):
    """A stranger's form pairs the refused phone with someone's open lead (matched by
    email): that callback is "previously refused" too, and the lead is not reached at
    the refused phone."""
    _first, known = post(phone=OTHER_PHONE, email=OTHER_EMAIL, first_name="Sam")
    post(phone=PHONE, email=OTHER_EMAIL, first_name="Sam")
    callback = live_callback(known)
    callback_claim_next(user_id=coordinator.pk)

    with pytest.raises(ApplicationError) as error:
        log(callback, coordinator, "reached", django_capture_on_commit_callbacks)
    assert error.value.code == "refusal_unacknowledged"


def test_a_refusal_recorded_after_the_acknowledgement_must_be_acknowledged_again(
    refused, post, later, coordinator, django_capture_on_commit_callbacks
):
    post(email=OTHER_EMAIL)
    callback = callback_claim_next(user_id=coordinator.pk)
    callback_refusal_acknowledge(callback_id=callback.pk, user_id=coordinator.pk)
    # Later, the person's other address is refused too (their other request).
    from notifications.refusals import refusal_record

    refusal_record(phone="", email=OTHER_EMAIL, recorded_by_id=coordinator.pk, source="call")

    with pytest.raises(ApplicationError):
        log(callback, coordinator, "reached", django_capture_on_commit_callbacks)


# --- Only the person lifts it ------------------------------------------------------------


def test_start_from_the_phone_lifts_its_refusal_and_opt_out_but_not_the_emails(refused):
    notification_services.inbound_receive(provider_id="SM-start", sender=PHONE, body="START")

    phone = Refusal.objects.get(channel="phone")
    assert phone.lifted_at is not None
    assert phone.lift_source == Refusal.LiftSource.START
    assert phone.lifted_by_id is None
    assert not OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()
    assert Refusal.objects.get(channel="email").lifted_at is None


def test_a_coordinator_lifts_a_refusal_only_with_a_note_of_what_the_person_said(
    refused, post, later, coordinator, client, sms_outbox
):
    _response, submission = post()
    callback = live_callback(submission)
    verified_login(client, coordinator)

    empty = client.post(f"/console/callbacks/{callback.pk}/refusal/lift/", {"note": "  "})

    assert empty.status_code == 400
    assert Refusal.objects.filter(lifted_at__isnull=True).count() == 2

    client.post(
        f"/console/callbacks/{callback.pk}/refusal/lift/",
        {"note": "She called us back and asked us to help her after all."},
    )

    lifted = Refusal.objects.all()
    assert all(r.lifted_at and r.lifted_by_id == coordinator.pk for r in lifted)
    assert {r.lift_source for r in lifted} == {Refusal.LiftSource.COORDINATOR}
    assert lifted[0].lift_note.startswith("She called us back")
    # The refusal's own opt-out goes with it; texts still need the phone's own yes.
    assert not OptOut.objects.filter(phone_hash=phone_hash(PHONE)).exists()
    callback.refresh_from_db()
    page = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    assert "Previously refused" not in page


def test_lifting_cannot_reach_a_refusal_of_details_the_lead_does_not_have(
    refused, post, later, coordinator
):
    """A stranger's form paired the refused phone with another person's lead: that
    person telling a coordinator "contact me again" lifts nothing of the refused one."""
    _first, known = post(phone=OTHER_PHONE, email=OTHER_EMAIL, first_name="Sam")
    post(phone=PHONE, email=OTHER_EMAIL, first_name="Sam")
    callback = live_callback(known)

    with pytest.raises(ApplicationError):
        lead_refusal_lift(callback_id=callback.pk, user_id=coordinator.pk, note="Asked again")

    assert Refusal.objects.filter(lifted_at__isnull=True).count() == 2


def test_the_lifting_is_audited_without_the_phone_or_email(refused, post, later, coordinator):
    if connection.vendor != "postgresql":
        pytest.skip("the change trail exists on PostgreSQL only")
    from clinic.audit.events import audit_context
    from notifications.models import RefusalEvent

    _response, submission = post()
    callback = live_callback(submission)
    with audit_context(user=coordinator.pk):
        lead_refusal_lift(callback_id=callback.pk, user_id=coordinator.pk, note="Asked again")

    events = RefusalEvent.objects.order_by("pgh_id")
    assert [e.pgh_label for e in events] == ["insert", "insert", "update", "update"]
    update = events.last()
    assert update.lifted_by_id == coordinator.pk and update.lift_source == "coordinator"
    assert update.pgh_context["user"] == coordinator.pk
    assert "lift_note" in update.personal_changed
    stored = {field.attname for field in RefusalEvent._meta.concrete_fields}
    assert not {"value_hash", "lift_note"} & stored
    for event in events:
        values = " ".join(str(getattr(event, name)) for name in stored)
        assert phone_hash(PHONE) not in values and email_hash(EMAIL) not in values


# --- The refusal outlives the lead ---------------------------------------------------------


def test_erasing_the_refused_persons_data_keeps_the_refusal(refused, post, later, sms_outbox):
    lead_erase(lead=refused, actor=None, reason="ticket 20")

    refusals = Refusal.objects.filter(lifted_at__isnull=True)
    assert {r.value_hash for r in refusals} == {phone_hash(PHONE), email_hash(EMAIL)}

    post()
    assert sms_outbox == [] and emails_to(EMAIL) == []


def test_erasure_drops_the_note_of_a_lifted_refusal(refused, coordinator, post, later):
    _response, submission = post()
    callback = live_callback(submission)
    lead_refusal_lift(callback_id=callback.pk, user_id=coordinator.pk, note="Maria asked again")

    # The person's every lead (the details stay while another lead of theirs holds them).
    lead_erase(lead=refused, actor=None, reason="ticket 21")
    lead_erase(lead=Lead.objects.get(pk=callback.lead_id), actor=None, reason="ticket 21")

    assert {r.lift_note for r in Refusal.objects.all()} == {""}
    assert {r.value_hash for r in Refusal.objects.all()} == {phone_hash(PHONE), email_hash(EMAIL)}


def test_an_admin_finds_a_refusal_by_the_address_typed_in_and_cannot_change_it(refused, client):
    from django.contrib.auth.models import Group

    from clinic import roles
    from tests.factories import UserFactory

    admin = UserFactory(username="refusal-admin", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name=roles.ADMIN)[0])
    verified_login(client, admin)

    found = client.get("/admin/notifications/refusal/", {"q": EMAIL}).content.decode()
    other = client.get("/admin/notifications/refusal/", {"q": OTHER_EMAIL}).content.decode()

    assert "1 result" in found and "0 results" in other
    assert email_hash(EMAIL) not in found
    refusal = Refusal.objects.get(channel="email")
    assert client.post(f"/admin/notifications/refusal/{refusal.pk}/delete/").status_code == 403
