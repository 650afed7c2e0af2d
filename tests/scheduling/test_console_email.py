"""People who gave only an email address can be written to from the console, through
the same wording check and record as texts."""

from __future__ import annotations

import pytest
from django.core import mail

from intake.models import Lead
from notifications.models import Message
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_only(client, coordinator, route, django_capture_on_commit_callbacks):
    callback = route(
        submit_lead(first_name="Sam", phone=None, email="sam@example.org", sms_consent=False)
    )
    verified_login(client, coordinator)
    client.post("/console/next/")
    mail.outbox.clear()
    return callback


def test_an_email_only_lead_gets_a_composer_and_the_coordinators_words(
    client, email_only, django_capture_on_commit_callbacks
):
    html = client.get(f"/console/callbacks/{email_only.pk}/").content.decode()
    assert "Email Sam" in html and 'id="email-body"' in html
    assert "<strong>Email only</strong>" in html
    assert 'id="sms-body"' not in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/console/callbacks/{email_only.pk}/email/",
            {"body": "Hi Sam,\n\nIs Tuesday at 4 a good time to talk?"},
            follow=True,
        )

    assert "Email queued." in response.content.decode()
    message = Message.objects.get(purpose=Message.Purpose.REPLY)
    assert message.channel == Message.Channel.EMAIL
    assert message.recipient == "sam@example.org"
    assert message.correlation == f"lead:{email_only.lead_id}"
    [sent] = mail.outbox
    assert sent.subject == "A message from Sterling Institute"
    assert sent.body == "Hi Sam,\n\nIs Tuesday at 4 a good time to talk?\n\nSterling Institute\n"
    assert "Is Tuesday at 4 a good time to talk?" in sent.alternatives[0][0]
    page = client.get(f"/console/callbacks/{email_only.pk}/").content.decode()
    assert "Email reply" in page  # on the timeline


def test_health_words_are_refused_with_the_error_by_the_field_and_the_words_kept(
    client, email_only
):
    typed = "Hi Sam, about your depression treatment"

    response = client.post(
        f"/console/callbacks/{email_only.pk}/email/",
        {"body": typed, "notes": "Left a message at work"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="email-error" tabindex="-1"' in html
    assert "An email must not name health information (depression, treatment)" in html
    field = html[html.index('id="email-body"') :]
    assert field.index(typed) < field.index("</textarea>")
    assert "Left a message at work</textarea>" in html  # the call notes too
    assert not Message.objects.filter(purpose=Message.Purpose.REPLY).exists()


def test_a_discreet_person_gets_no_clinic_name(
    client, email_only, django_capture_on_commit_callbacks
):
    Lead.objects.filter(pk=email_only.lead_id).update(mention_clinic_ok=False)
    html = client.get(f"/console/callbacks/{email_only.pk}/").content.decode()
    assert "<strong>Don't say the clinic's name</strong>" in html

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/console/callbacks/{email_only.pk}/email/", {"body": "Hello Sam"})

    [sent] = mail.outbox
    assert sent.subject == "A message from your care team"
    assert "Sterling" not in sent.body + sent.alternatives[0][0]


def test_someone_who_asked_not_to_be_contacted_is_not_emailed(client, email_only):
    client.post(
        f"/console/callbacks/{email_only.pk}/attempt/",
        {"outcome": "do_not_contact", "confirm": "do_not_contact"},
    )

    response = client.post(f"/console/callbacks/{email_only.pk}/email/", {"body": "Hello Sam"})

    assert response.status_code == 400
    assert "This person asked not to be contacted." in response.content.decode()
    assert not Message.objects.filter(purpose=Message.Purpose.REPLY).exists()


def test_a_person_who_takes_texts_and_wants_calls_gets_the_text_box_only(
    client, coordinator, route
):
    callback = route(submit_lead(first_name="Jo", preferred_channel="call"))
    verified_login(client, coordinator)

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert 'id="sms-body"' in html
    assert 'id="email-body"' not in html


def test_an_email_to_a_person_in_crisis_carries_988_and_911(
    client, coordinator, route, django_capture_on_commit_callbacks
):
    callback = route(
        submit_lead(
            first_name="Sam",
            phone=None,
            email="sam@example.org",
            sms_consent=False,
            in_crisis=True,
        )
    )
    verified_login(client, coordinator)
    client.post("/console/next/")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/console/callbacks/{callback.pk}/email/", {"body": "Can we talk today?"})

    [sent] = mail.outbox
    assert sent.body.startswith("Can we talk today?")
    assert "988" in sent.body and "911" in sent.body
    assert "988" in sent.alternatives[0][0]
    assert Message.objects.get(purpose=Message.Purpose.REPLY).template == (
        "coordinator_reply_crisis"
    )


def test_no_email_goes_to_an_address_under_refusal(
    client, email_only, django_capture_on_commit_callbacks
):
    from notifications.refusals import refusal_record

    refusal_record(email="sam@example.org", recorded_by_id=None, source="test")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/console/callbacks/{email_only.pk}/email/", {"body": "Hello"})

    assert response.status_code == 400
    assert mail.outbox == []
    assert not Message.objects.filter(purpose=Message.Purpose.REPLY).exists()
