"""Erasure on request: the service, the admin action, the management command, and a
canary that leaves no trace in any column of any table."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from twilio.request_validator import RequestValidator

from clinic import roles
from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from intake.models import Consent, FunnelRollup, Lead, Submission
from intake.services import lead_erase
from notifications import services as notification_services
from notifications.models import InboundMessage, Message, OptOut
from scheduling.models import Appointment, CallAttempt, Callback
from scheduling.services import attempt_log, callback_claim_next
from tests.factories import UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

TWILIO_TOKEN = "test-auth-token"
TWILIO_BASE = "https://clinic.example"


@pytest.fixture
def admin_user(db):
    user = UserFactory(username="erasure-admin", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=roles.ADMIN)[0])
    return user


@pytest.fixture
def open_lead(route):
    def make(phone: str) -> Lead:
        submission = submit_lead(phone=phone, message="I need help soon")
        route(submission)
        return Lead.objects.get(pk=submission.lead_id)

    return make


def test_erasing_an_open_lead_closes_it_and_cancels_its_callback(open_lead, coordinator):
    lead = open_lead("+12025550191")
    callback = callback_claim_next(user_id=coordinator.pk)
    assert callback.lead_id == lead.pk

    assert lead_erase(lead=lead, actor=coordinator, reason="ticket 42") is True

    lead.refresh_from_db()
    assert lead.stage == Lead.Stage.CLOSED
    assert lead.closed_reason == "erased on request"
    assert lead.anonymised_reason == "erasure: ticket 42"
    assert (lead.first_name, str(lead.phone), lead.email) == ("", "", "")
    callback.refresh_from_db()
    assert callback.status == Callback.Status.CANCELLED
    assert callback.claimed_by is None
    assert not Callback.objects.filter(lead=lead, status__in=["open", "claimed"]).exists()


def test_unsent_messages_to_an_erased_lead_are_suppressed_and_blanked(open_lead, coordinator):
    lead = open_lead("+12025550192")
    later = notification_services.message_send(
        channel="sms",
        purpose="reminder",
        recipient="+12025550192",
        template="help",
        context={},
        correlation=f"lead:{lead.pk}",
        send_after=timezone.now() + timedelta(days=1),
    )

    lead_erase(lead=lead, actor=None, reason="request by email")

    later.refresh_from_db()
    assert later.status == Message.Status.SUPPRESSED
    assert (later.recipient, later.body) == ("", "")


def test_an_erased_leads_consultation_is_cancelled_without_a_message(open_lead):
    from scheduling.models import Clinician

    lead = open_lead("+12025550193")
    starts = timezone.now() + timedelta(days=2)
    appointment = Appointment.objects.create(
        lead=lead,
        clinician=Clinician.objects.create(name="Dr. Who"),
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
    )
    sent_before = Message.objects.count()

    lead_erase(lead=lead, actor=None, reason="ticket 7")

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert Message.objects.count() == sent_before


def test_an_opt_out_stays_honoured_after_erasure(open_lead):
    lead = open_lead("+12025550194")
    notification_services.inbound_receive(provider_id="SM-stop", sender="+12025550194", body="STOP")

    lead_erase(lead=lead, actor=None, reason="ticket 8")

    opt_out = OptOut.objects.get(phone_hash=phone_hash("+12025550194"))
    assert opt_out.phone == ""
    assert notification_services.opt_out_exists(phone="+12025550194")
    assert InboundMessage.objects.get(provider_id="SM-stop").sender == ""


def test_erasure_needs_a_reason_and_happens_once(open_lead):
    lead = open_lead("+12025550195")

    with pytest.raises(ApplicationError):
        lead_erase(lead=lead, actor=None, reason="  ")
    assert lead_erase(lead=lead, actor=None, reason="ticket 9") is True
    assert lead_erase(lead=lead, actor=None, reason="ticket 9") is False


def test_the_command_erases_by_reference():
    submission = submit_lead(phone="+12025550196")
    out = io.StringIO()

    call_command("erase_lead", submission.reference, reason="ticket 10", stdout=out)

    assert f"Lead {submission.lead_id} erased." in out.getvalue()
    assert Lead.objects.get(pk=submission.lead_id).anonymised_at is not None
    again = io.StringIO()
    call_command("erase_lead", submission.reference.lower(), reason="ticket 10", stdout=again)
    assert "already anonymised" in again.getvalue()


def test_the_command_refuses_an_unknown_reference_or_no_reason():
    with pytest.raises(CommandError):
        call_command("erase_lead", "R-AAAA-BBBB-CCCC", reason="ticket 11")
    submission = submit_lead(phone="+12025550197")
    with pytest.raises(CommandError):
        call_command("erase_lead", submission.reference, reason=" ")
    assert Lead.objects.get(pk=submission.lead_id).first_name == "Maria"


def test_the_admin_action_asks_for_a_reason_then_erases(client, admin_user):
    lead_id = submit_lead(phone="+12025550198").lead_id
    verified_login(client, admin_user)
    url = "/admin/intake/lead/"

    confirm = client.post(url, {"action": "erase", "_selected_action": [lead_id]})
    assert confirm.status_code == 200
    assert b"Erase personal data" in confirm.content
    assert Lead.objects.get(pk=lead_id).anonymised_at is None

    done = client.post(
        url,
        {
            "action": "erase",
            "_selected_action": [lead_id],
            "confirm": "yes",
            "reason": "ticket 12",
        },
    )
    assert done.status_code == 302
    lead = Lead.objects.get(pk=lead_id)
    assert lead.anonymised_at is not None
    assert lead.anonymised_reason == "erasure: ticket 12"


def test_the_admin_action_is_for_the_admin_role_only(client, coordinator):
    lead_id = submit_lead(phone="+12025550199").lead_id
    coordinator.is_staff = True
    coordinator.save()
    verified_login(client, coordinator)

    response = client.post(
        "/admin/intake/lead/",
        {"action": "erase", "_selected_action": [lead_id], "confirm": "yes", "reason": "x"},
    )

    assert response.status_code in (302, 403)
    assert Lead.objects.get(pk=lead_id).anonymised_at is None


def test_the_admin_finds_a_lead_by_phone_or_email_through_the_hashes(client, admin_user):
    submission = submit_lead(phone="+12025550181", email="Find.Me@Example.org")
    verified_login(client, admin_user)

    for term in ("(202) 555-0181", "find.me@example.org"):
        response = client.get("/admin/intake/lead/", {"q": term})
        assert response.status_code == 200
        assert f"/admin/intake/lead/{submission.lead_id}/change/".encode() in response.content


# --- The canary -------------------------------------------------------------------------


def text_columns() -> dict[str, list[str]]:
    """Every column of every table in our schema (PostgreSQL's information_schema)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
        tables: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            tables.setdefault(table, []).append(column)
    return tables


def places_holding(values: list[str]) -> set[tuple[str, str]]:
    """(table, column) pairs where any of ``values`` appears, each column cast to text."""
    quote = connection.ops.quote_name
    patterns = [f"%{value}%" for value in values]
    found = set()
    with connection.cursor() as cursor:
        for table, columns in text_columns().items():
            for column in columns:
                cursor.execute(
                    f"SELECT 1 FROM {quote(table)} "  # noqa: S608
                    f"WHERE {quote(column)}::text ILIKE ANY(%s) LIMIT 1",
                    [patterns],
                )
                if cursor.fetchone():
                    found.add((table, column))
    return found


@pytest.mark.skipif(connection.vendor != "postgresql", reason="scans PostgreSQL's catalogue")
def test_a_canary_leaves_no_trace_in_any_table_after_erasure(
    api_client, client, route, coordinator, settings, django_capture_on_commit_callbacks
):
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.PUBLIC_BASE_URL = TWILIO_BASE
    tag = uuid.uuid4().hex[:10]
    # Names are letters only (the form refuses digits in a name).
    letters = "".join(chr(ord("a") + int(char, 16)) for char in tag)
    first_name, last_name = f"Zephyra{letters}", f"Quillon{letters}"
    email = f"Canary.{tag}@Example.org"
    phone_e164 = "+12025550117"
    message = f"canary-message-{tag} I have been feeling low"
    note = f"canary-note-{tag} prefers evenings"
    reply = f"canary-reply-{tag} can you call after five"

    # The lead arrives through the public API and the real flow.
    response = api_client.post(
        "/api/v1/leads/",
        {
            "first_name": first_name,
            "last_name": last_name,
            "phone": "(202) 555-0117",
            "email": email,
            "message": message,
            "sms_consent": True,
            "article": "science-behind-antidepressants",
            "page_url": f"https://clinic.example/articles/x/?ref={tag}",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"idem-{tag}",
        HTTP_USER_AGENT=f"Browser/{tag}",
    )
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(reference=response.json()["reference"])
    route(submission)
    callback = callback_claim_next(user_id=coordinator.pk)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(
            callback_id=callback.pk,
            user_id=coordinator.pk,
            outcome="call_back_later",
            notes=note,
            call_back_at=timezone.now() + timedelta(hours=3),
        )
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone_e164, "Body": reply}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        TWILIO_BASE + "/webhooks/twilio/inbound/", params
    )
    with django_capture_on_commit_callbacks(execute=True):
        inbound = client.post(
            "/webhooks/twilio/inbound/", params, HTTP_X_TWILIO_SIGNATURE=signature
        )
    assert inbound.status_code == 200
    submission.refresh_from_db()  # the worker attached its lead
    lead = Lead.objects.get(pk=submission.lead_id)
    assert Message.objects.filter(correlation=f"lead:{lead.pk}").exists()
    assert CallAttempt.objects.get(callback=callback).notes == note
    assert Callback.objects.get(pk=callback.pk).patient_replied

    # Before erasure: the scan finds the person (it works), but never the free text.
    assert places_holding([message, note, reply, tag + " prefers", "feeling low"]) == set()
    assert ("intake_lead", "first_name") in places_holding([first_name])
    assert ("intake_lead", "phone") in places_holding([phone_e164])
    rollups_before = list(FunnelRollup.objects.order_by("pk").values())

    lead_erase(lead=lead, actor=None, reason="canary test")

    canaries = [
        first_name,
        last_name,
        tag,
        email,
        email.lower(),
        phone_e164,
        phone_e164.lstrip("+"),
        "2025550117",
        "202) 555-0117",
        "202-555-0117",
        message,
        note,
        reply,
    ]
    assert places_holding(canaries) == set()
    # What stays: the aggregates, and the consent evidence as a hash.
    assert list(FunnelRollup.objects.order_by("pk").values()) == rollups_before
    assert Consent.objects.get(lead=lead).phone_hash == phone_hash(phone_e164)
    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.CANCELLED
