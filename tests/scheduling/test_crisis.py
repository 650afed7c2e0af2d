"""A crisis submission: 988 in its confirmations, due at once, a supervisor alerted,
and a banner on the callback page."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from notifications.wording import wording_problems
from scheduling.models import StaffAlert
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic_in_new_york")]

CRISIS_WORDS = "I want to end my life"
NY = ZoneInfo("America/New_York")


def _texts(sms_outbox):
    return [sms.body for sms in sms_outbox], [message.body for message in mail.outbox]


def test_a_crisis_confirmation_carries_988_and_911_by_text_and_email(sms_outbox, route):
    submission = submit_lead(first_name="Jo", message=CRISIS_WORDS)
    assert submission.is_crisis

    route(submission)

    [sms], [email] = sms_outbox, [m for m in mail.outbox if m.to == [submission.email]]
    for body in (sms.body, email.body, email.alternatives[0][0]):
        assert "988" in body
        assert "911" in body
        assert wording_problems(body) == []
    assert "Jo" not in sms.body  # a confirmation greets nobody by name
    assert len(sms.body) <= 306  # two GSM-7 segments, like any confirmation


def test_a_routine_confirmation_does_not_mention_988(sms_outbox, route):
    route(submit_lead(message="Please call after 5"))

    assert "988" not in sms_outbox[0].body
    assert "988" not in mail.outbox[0].body


def test_a_discreet_crisis_confirmation_does_not_name_the_clinic(sms_outbox, route, settings):
    submission = submit_lead(message=CRISIS_WORDS, contact_preferences={"mention_clinic_ok": False})

    route(submission)

    sms_bodies, email_bodies = _texts(sms_outbox)
    for body in sms_bodies + email_bodies:
        assert "988" in body
        assert settings.CLINIC_NAME not in body
        assert settings.DISCREET_SENDER_NAME in body


def test_the_crisis_confirmation_is_the_same_for_a_known_and_an_unknown_person(sms_outbox, route):
    with time_machine.travel(datetime(2026, 12, 1, 12, 0, tzinfo=NY), tick=False):
        route(submit_lead(phone="+12025550188", email="known@example.org", first_name="Sam"))
    sms_outbox.clear()
    mail.outbox.clear()

    with time_machine.travel(datetime(2026, 12, 3, 12, 0, tzinfo=NY), tick=False):
        people = (("+12025550188", "known@example.org"), ("+12025550190", "new@example.org"))
        for phone, email in people:
            route(submit_lead(phone=phone, email=email, first_name="Sam", message=CRISIS_WORDS))

    assert len(sms_outbox) == 2
    assert sms_outbox[0].body == sms_outbox[1].body
    assert "988" in sms_outbox[0].body
    emails = [m for m in mail.outbox if m.to in (["known@example.org"], ["new@example.org"])]
    assert len(emails) == 2
    assert emails[0].subject == emails[1].subject
    # The same words, but for the signed link to each request.
    assert emails[0].body.split("http")[0] == emails[1].body.split("http")[0]


def test_a_crisis_callback_is_due_at_once_when_the_clinic_is_closed(weekday_hours, route):
    saturday_night = datetime(2026, 12, 5, 2, 30, tzinfo=NY)
    with time_machine.travel(saturday_night, tick=False):
        submission = submit_lead(message=CRISIS_WORDS)
        callback = route(submission)

    assert callback.is_urgent
    assert callback.due_at == submission.created_at
    assert callback.original_due_at == submission.created_at


def test_a_routine_callback_still_waits_for_opening(weekday_hours, route):
    saturday_night = datetime(2026, 12, 5, 2, 30, tzinfo=NY)
    with time_machine.travel(saturday_night, tick=False):
        callback = route(submit_lead())

    assert callback.due_at.astimezone(NY).weekday() == 0  # Monday


def test_a_crisis_raises_a_live_callback_to_due_now(weekday_hours, route):
    with time_machine.travel(datetime(2026, 12, 5, 2, 30, tzinfo=NY), tick=False):
        first = submit_lead(phone="+12025550177", email="again@example.org")
        routine = route(first)
        crisis = submit_lead(phone="+12025550177", email="again@example.org", message=CRISIS_WORDS)
        callback = route(crisis)

    assert callback.pk == routine.pk
    assert callback.is_urgent
    assert callback.due_at == crisis.created_at


def test_a_crisis_alerts_the_supervisor_at_once(supervisor, route):
    supervisor.email = "oncall@example.org"
    supervisor.save()

    callback = route(submit_lead(message=CRISIS_WORDS))

    alert = StaffAlert.objects.get(callback=callback)
    assert (alert.kind, alert.audience) == (StaffAlert.Kind.URGENT, StaffAlert.Audience.SUPERVISOR)
    assert [m for m in mail.outbox if m.to == ["oncall@example.org"]]


def test_the_callback_page_opens_with_the_crisis_banner(client, coordinator, route, settings):
    settings.CRISIS_PROTOCOL_STEPS = ["Call at once", "Stay on the line, give 988"]
    callback = route(submit_lead(message=CRISIS_WORDS))
    verified_login(client, coordinator)

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    banner = html[html.index('class="crisis-banner"') :]
    assert html.index('class="crisis-banner"') < html.index("Log the call")
    assert CRISIS_WORDS in banner[: banner.index("</section>")]
    assert "Call at once" in banner and "Stay on the line, give 988" in banner


def test_a_routine_callback_page_has_no_crisis_banner(client, coordinator, route):
    callback = route(submit_lead(message="Please call after 5"))
    verified_login(client, coordinator)

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert "crisis-banner" not in html


def test_marketing_never_sees_the_crisis_banner(client, marketer, route):
    callback = route(submit_lead(message=CRISIS_WORDS))
    verified_login(client, marketer)

    response = client.get(f"/console/callbacks/{callback.pk}/")

    assert response.status_code == 403
    assert CRISIS_WORDS not in response.content.decode()
