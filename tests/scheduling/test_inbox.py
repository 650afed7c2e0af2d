"""The text inbox: threads from texts either way, unread counts, assignment, replies
under every rule a text keeps, crisis words, the audit trail, and who may see it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from intake.models import LeadEvent
from notifications.models import Message, SmsConversation, SmsConversationEvent
from notifications.refusals import refusal_record
from notifications.services import inbound_receive, opt_out_record
from scheduling.models import Callback, StaffAlert
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

PHONE = "+12025550177"
# 23:30 in Washington DC (the 202 numbers): quiet hours.
NIGHT = datetime(2026, 3, 4, 4, 30, tzinfo=UTC)
NOON = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


@pytest.fixture
def texted(route, django_capture_on_commit_callbacks):
    """A lead who agreed to texts and got the confirmation, then texted back."""

    def make(body: str = "Can you call me after 5?", *, provider_id: str = "SMin1", **lead):
        callback = route(submit_lead(phone=PHONE, first_name="Dana", **lead))
        with django_capture_on_commit_callbacks(execute=True):
            inbound_receive(provider_id=provider_id, sender=PHONE, body=body)
        return callback, SmsConversation.objects.get()

    return make


def _reply(api_client, thread, body="Yes, we will call you at 5."):
    return api_client.post(f"/api/v1/inbox/{thread.pk}/reply/", {"body": body}, format="json")


# --- Threads ---------------------------------------------------------------------


def test_the_confirmation_and_the_persons_text_make_one_thread_linked_to_the_lead(texted):
    callback, thread = texted()

    assert thread.lead_id == callback.lead_id
    assert thread.unread_count == 1
    assert thread.last_outbound_at is not None and thread.last_inbound_at is not None
    assert thread.last_message_at == thread.last_inbound_at


def test_the_inbox_lists_the_thread_with_its_unread_count_and_last_text(
    client, coordinator, texted
):
    texted()
    verified_login(client, coordinator)

    html = client.get("/console/inbox/").content.decode()

    assert "Dana" in html
    assert "1 unread" in html
    assert "Can you call me after 5?" in html
    assert "Inbox (1 unread)" in html


def test_opening_a_thread_marks_it_read_and_shows_the_texts_in_order(client, coordinator, texted):
    _, thread = texted()
    verified_login(client, coordinator)

    html = client.get(f"/console/inbox/{thread.pk}/").content.decode()

    thread.refresh_from_db()
    assert thread.unread_count == 0
    assert html.index("We got your request") < html.index("Can you call me after 5?")
    assert "Inbox (1 unread)" not in client.get("/console/inbox/").content.decode()


def test_filters_show_mine_unassigned_and_unread(client, coordinator, texted):
    _, thread = texted()
    verified_login(client, coordinator)

    assert "Dana" in client.get("/console/inbox/list/?show=unassigned").content.decode()
    assert "Dana" not in client.get("/console/inbox/list/?show=mine").content.decode()
    client.post(f"/console/inbox/{thread.pk}/assign/", {"assign": "me"})
    thread.refresh_from_db()
    assert thread.assigned_to_id == coordinator.pk
    assert "Dana" in client.get("/console/inbox/list/?show=mine").content.decode()
    assert "Dana" not in client.get("/console/inbox/list/?show=unassigned").content.decode()
    assert "Dana" in client.get("/console/inbox/list/?show=unread").content.decode()
    client.get(f"/console/inbox/{thread.pk}/")
    assert "Dana" not in client.get("/console/inbox/list/?show=unread").content.decode()

    client.post(f"/console/inbox/{thread.pk}/assign/", {"assign": "none"})
    thread.refresh_from_db()
    assert thread.assigned_to_id is None


# --- Replies ---------------------------------------------------------------------


def test_a_reply_goes_with_the_coordinator_as_sender(api_client, coordinator, texted):
    _, thread = texted()
    api_client.force_authenticate(coordinator)

    response = _reply(api_client, thread)

    assert response.status_code == 201, response.json()
    message = Message.objects.get(pk=response.json()["message"])
    assert message.sent_by_id == coordinator.pk
    assert message.purpose == Message.Purpose.REPLY
    assert "we will call you at 5" in message.body


def test_a_reply_naming_health_information_is_refused_with_a_field_error(
    api_client, coordinator, texted
):
    _, thread = texted()
    api_client.force_authenticate(coordinator)
    before = Message.objects.count()

    response = _reply(api_client, thread, body="About your depression treatment: call us")

    assert response.status_code == 400
    assert "body" in response.json()["fields"]
    assert Message.objects.count() == before


def test_a_reply_to_an_opted_out_number_is_refused(api_client, coordinator, texted):
    _, thread = texted()
    opt_out_record(phone=PHONE, source="test")
    api_client.force_authenticate(coordinator)

    response = _reply(api_client, thread)

    assert response.status_code == 400
    assert "opted out" in response.json()["fields"]["body"][0]
    assert not Message.objects.filter(purpose=Message.Purpose.REPLY).exists()


def test_a_reply_to_a_person_who_refused_contact_is_refused(api_client, coordinator, texted):
    _, thread = texted()
    refusal_record(phone=PHONE, recorded_by_id=None, source="test")
    api_client.force_authenticate(coordinator)

    response = _reply(api_client, thread)

    assert response.status_code == 400
    assert response.json()["code"] == "do_not_contact"
    assert not Message.objects.filter(purpose=Message.Purpose.REPLY).exists()


def test_a_reply_without_consent_to_texts_is_refused(api_client, coordinator, texted):
    _, thread = texted(sms_consent=False)
    api_client.force_authenticate(coordinator)

    response = _reply(api_client, thread)

    assert response.status_code == 400
    assert response.json()["code"] == "no_sms_consent"
    assert "said no to texts" in response.json()["fields"]["body"][0]


def test_a_night_reply_59_minutes_after_the_persons_text_goes_now(api_client, coordinator, texted):
    with time_machine.travel(NIGHT - timedelta(minutes=59), tick=False):
        _, thread = texted()
    api_client.force_authenticate(coordinator)
    with time_machine.travel(NIGHT, tick=False):
        response = _reply(api_client, thread)

    assert response.status_code == 201
    assert response.json()["status"] == Message.Status.PENDING


def test_a_night_reply_61_minutes_after_the_persons_text_is_scheduled_and_shown_so(
    client, api_client, coordinator, texted
):
    with time_machine.travel(NIGHT - timedelta(minutes=61), tick=False):
        _, thread = texted()
    api_client.force_authenticate(coordinator)
    with time_machine.travel(NIGHT, tick=False):
        response = _reply(api_client, thread)
        verified_login(client, coordinator)
        html = client.get(f"/console/inbox/{thread.pk}/").content.decode()

    assert response.status_code == 201
    assert response.json()["status"] == Message.Status.SCHEDULED
    assert response.json()["send_after"].startswith("2026-03-04T13:00")
    assert "scheduled for" in html


def test_a_reply_from_the_page_that_is_refused_keeps_the_words(client, coordinator, texted):
    _, thread = texted()
    verified_login(client, coordinator)

    response = client.post(
        f"/console/inbox/{thread.pk}/reply/", {"body": "Your anxiety medication is ready"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "health information" in html
    assert "Your anxiety medication is ready" in html


def test_a_reply_to_a_person_who_asked_for_discretion_does_not_name_the_clinic(
    api_client, coordinator, texted, settings
):
    _, thread = texted(contact_preferences={"mention_clinic_ok": False})
    api_client.force_authenticate(coordinator)

    response = _reply(api_client, thread)

    assert response.status_code == 201
    assert settings.CLINIC_NAME not in Message.objects.get(pk=response.json()["message"]).body


# --- Crisis ------------------------------------------------------------------------


def test_crisis_words_in_a_text_make_the_callback_urgent_and_alert_supervisors(
    client, coordinator, texted
):
    callback, thread = texted(body="honestly I just want to die")

    callback.refresh_from_db()
    thread.refresh_from_db()
    assert callback.is_urgent is True
    assert thread.is_urgent is True
    assert StaffAlert.objects.filter(
        callback=callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR
    ).exists()
    verified_login(client, coordinator)
    assert "Urgent" in client.get("/console/inbox/").content.decode()


def test_crisis_words_from_a_number_with_no_callback_email_supervisors(
    supervisor, django_capture_on_commit_callbacks
):
    supervisor.email = "sup@example.org"
    supervisor.save()
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SMx1", sender=PHONE, body="I want to kill myself")

    assert SmsConversation.objects.get().is_urgent is True
    alert = Message.objects.get(purpose=Message.Purpose.STAFF_ALERT, recipient="sup@example.org")
    assert PHONE not in alert.body and "kill" not in alert.body


def test_an_ordinary_text_is_not_urgent(texted):
    callback, thread = texted(body="Thursday afternoon works for me")

    callback.refresh_from_db()
    assert callback.is_urgent is False
    assert thread.is_urgent is False


# --- Who may see it, and the trail -----------------------------------------------


def test_marketing_may_not_see_the_inbox(client, api_client, marketer, texted):
    _, thread = texted()
    verified_login(client, marketer)
    api_client.force_authenticate(marketer)

    assert client.get("/console/inbox/").status_code == 403
    assert client.get(f"/console/inbox/{thread.pk}/").status_code == 403
    assert client.post(f"/console/inbox/{thread.pk}/reply/", {"body": "hi"}).status_code == 403
    assert api_client.get("/api/v1/inbox/").status_code == 403
    assert api_client.get(f"/api/v1/inbox/{thread.pk}/").status_code == 403
    assert _reply(api_client, thread).status_code == 403
    assert not Message.objects.filter(purpose=Message.Purpose.REPLY).exists()


def test_the_api_lists_threads_without_texts_and_gives_them_in_the_thread(
    api_client, supervisor, texted
):
    _, thread = texted()
    api_client.force_authenticate(supervisor)

    listed = api_client.get("/api/v1/inbox/").json()
    detail = api_client.get(f"/api/v1/inbox/{thread.pk}/").json()

    assert listed["results"][0]["id"] == thread.pk
    assert listed["results"][0]["unread_count"] == 1
    assert "Can you call me" not in str(listed)
    assert detail["texts"][-1] == {
        **detail["texts"][-1],
        "direction": "inbound",
        "body": "Can you call me after 5?",
    }
    assert api_client.get("/api/v1/inbox/?show=bogus").status_code == 400
    assert api_client.get("/api/v1/inbox/999999/").status_code == 404


def test_reading_the_inbox_and_a_thread_is_on_the_audit_trail(client, coordinator, texted):
    callback, thread = texted()
    verified_login(client, coordinator)

    client.get("/console/inbox/")
    client.get(f"/console/inbox/{thread.pk}/")

    reads = SmsConversationEvent.objects.filter(pgh_label="conversation.read", pgh_obj_id=thread.pk)
    assert {event.pgh_context["read"] for event in reads} == {"inbox", "inbox thread"}
    assert all(event.pgh_context["user"] == coordinator.pk for event in reads)
    assert LeadEvent.objects.filter(
        pgh_label="lead.read", pgh_obj_id=callback.lead_id, pgh_context__read="inbox thread"
    ).exists()


def test_no_number_or_words_in_the_logs(client, api_client, coordinator, texted, caplog):
    caplog.set_level(logging.DEBUG)
    _, thread = texted(body="I am Dana, please call")
    verified_login(client, coordinator)
    api_client.force_authenticate(coordinator)
    client.get("/console/inbox/")
    client.get(f"/console/inbox/{thread.pk}/")
    _reply(api_client, thread, body="Calling you at five")

    logged = caplog.text
    assert PHONE not in logged and PHONE[2:] not in logged
    assert "please call" not in logged and "Calling you at five" not in logged


def test_the_live_list_and_texts_fragments_refresh(client, coordinator, texted):
    _, thread = texted()
    verified_login(client, coordinator)

    page = client.get("/console/inbox/").content.decode()
    assert 'hx-get="/console/inbox/list/?show=all"' in page and 'hx-trigger="every 5s"' in page
    texts = client.get(f"/console/inbox/{thread.pk}/texts/").content.decode()
    assert "Can you call me after 5?" in texts


def test_callbacks_keep_their_queue_after_a_reply(api_client, coordinator, texted):
    callback, thread = texted()
    api_client.force_authenticate(coordinator)
    _reply(api_client, thread)

    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.OPEN


def test_watching_a_thread_records_one_read_per_window_not_one_per_poll(
    client, coordinator, texted
):
    _, thread = texted()
    verified_login(client, coordinator)

    for _ in range(3):
        client.get(f"/console/inbox/{thread.pk}/texts/")

    assert (
        SmsConversationEvent.objects.filter(
            pgh_label="conversation.read", pgh_obj_id=thread.pk
        ).count()
        == 1
    )
