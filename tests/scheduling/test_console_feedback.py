"""The callback page tells errors from successes, keeps what was typed, and shows
what the person chose and the texts exchanged."""

from __future__ import annotations

import pytest

from notifications.models import Message
from notifications.services import inbound_receive
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, coordinator, route):
    callback = route(submit_lead(first_name="Jo", phone="+12025550170", interest="anxiety"))
    verified_login(client, coordinator)
    client.post("/console/next/")
    return callback


def test_a_refused_text_is_shown_as_an_error_by_the_field_and_keeps_the_text(client, page):
    typed = "Hi Jo, about your depression treatment"

    response = client.post(f"/console/callbacks/{page.pk}/sms/", {"body": typed})

    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('id="sms-body"') :]
    assert field.index(typed) < field.index("</textarea>")
    error = html[html.index('id="sms-error"') - 60 :]
    assert 'role="alert"' in error[:120]
    assert "A text must not name health information" in error
    assert html.index('id="sms-body"') < html.index('id="sms-error"')
    assert 'aria-invalid="true"' in html
    assert not Message.objects.filter(purpose=Message.Purpose.REPLY).exists()


def test_a_sent_text_is_a_success_in_the_status_banner(client, page):
    response = client.post(f"/console/callbacks/{page.pk}/sms/", {"body": "Hi Jo"}, follow=True)

    html = response.content.decode()
    assert '<ul class="flash" role="status"><li>Text queued.</li>' in html
    assert 'role="alert"' not in html.split("<main")[0]


def test_call_back_later_without_a_time_keeps_the_notes_and_says_why(client, page):
    response = client.post(
        f"/console/callbacks/{page.pk}/attempt/",
        {"outcome": "call_back_later", "notes": "Asked for Tuesday"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Asked for Tuesday</textarea>" in html
    assert 'class="field-error" role="alert" id="attempt-error"' in html
    assert "Say when to call back." in html


def test_the_page_shows_what_the_person_needs_help_with_and_the_channel_they_chose(
    client, coordinator, route
):
    callback = route(submit_lead(interest="anxiety", preferred_channel="sms"))
    verified_login(client, coordinator)

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert "<dt>Help with</dt><dd>Anxiety</dd>" in html
    assert "<dt>Chose</dt><dd><strong>Text message</strong>" in html


def test_the_texts_are_shown_as_a_thread_oldest_first(
    client, page, django_capture_on_commit_callbacks
):
    client.post(f"/console/callbacks/{page.pk}/sms/", {"body": "Is now a good time?"})
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM-thread", sender="+12025550170", body="Yes, call me")

    html = client.get(f"/console/callbacks/{page.pk}/").content.decode()

    thread = html[
        html.index('<ol class="thread"') : html.index("</ol>", html.index('class="thread"'))
    ]
    assert thread.index("Is now a good time?") < thread.index("Yes, call me")
    assert thread.count('class="from-us"') == 2  # the confirmation and the reply
    assert thread.count('class="from-person"') == 1


def test_a_reply_raises_the_callback_in_the_queue(
    client, coordinator, route, django_capture_on_commit_callbacks
):
    route(submit_lead(first_name="Earlier"))
    later = route(submit_lead(first_name="Texter", phone="+12025550171"))
    verified_login(client, coordinator)
    html = client.get("/console/queue/").content.decode()
    assert html.index("Earlier") < html.index("Texter")

    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM-raise", sender="+12025550171", body="Call me now?")

    html = client.get("/console/queue/").content.decode()
    assert html.index("Texter") < html.index("Earlier")
    response = client.post("/console/next/")
    assert response["Location"] == f"/console/callbacks/{later.pk}/"


def test_an_error_message_after_a_redirect_is_an_alert_not_a_status(client, page):
    response = client.post(f"/console/callbacks/{page.pk}/confirm-details/", {}, follow=True)

    html = response.content.decode()
    assert '<p class="flash error" role="alert">' in html
    assert "Choose a submission." in html[html.index('class="flash error"') :]
    assert '<ul class="flash" role="status"></ul>' in html  # empty, hidden by the stylesheet


def test_the_persons_wishes_about_contact_come_first(client, coordinator, route):
    callback = route(
        submit_lead(
            first_name="Dana",
            sms_consent=False,
            contact_preferences={"voicemail_ok": False, "mention_clinic_ok": False},
        )
    )
    verified_login(client, coordinator)

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    wishes = html[html.index('<ul class="wishes"') : html.index("</ul>", html.index("wishes"))]
    assert "<strong>No voicemail</strong>" in wishes
    assert "<strong>Don't say the clinic's name</strong>" in wishes
    assert "<strong>No texts</strong> (no consent to texts)" in wishes
    # Before the contact details and everything that could break those wishes.
    assert html.index('class="callback-notices"') < html.index('<ul class="wishes"')
    assert html.index('<ul class="wishes"') < html.index('<dl class="details"')
    assert html.index('<dl class="details"') < html.index("Log the call")


def test_a_refused_text_keeps_the_call_notes_typed_above(client, page):
    response = client.post(
        f"/console/callbacks/{page.pk}/sms/",
        {"body": "About your therapy", "notes": "Prefers mornings; sister answers"},
    )

    assert response.status_code == 400
    assert "Prefers mornings; sister answers</textarea>" in response.content.decode()
