"""A stranger's crisis words are labelled as such (issue 20, item 6).

Anyone who knows a person's phone or email can send a crisis request naming them. The
callback page shows each crisis request as what "this request says", with the phone
and email that request gave, never as "the person wrote"; the protocol begins with
reaching the person on the number that request gave, before any emergency dispatch.
The callback stays urgent: a crisis signal is never weakened."""

from __future__ import annotations

import pytest

from notifications.services import inbound_receive
from scheduling.models import Callback
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic_in_new_york")]

CRISIS_WORDS = "I want to end my life"
PERSON_PHONE, PERSON_EMAIL = "+12025550143", "maria.lopez@example.org"
OTHER_PHONE, OTHER_EMAIL = "+12025550188", "someone@example.net"


@pytest.fixture
def person(route, django_capture_on_commit_callbacks):
    """A person who asked for a call; their number is proven (they texted from it)."""
    callback = route(submit_lead(first_name="Maria", phone=PERSON_PHONE, email=PERSON_EMAIL))
    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SMperson", sender=PERSON_PHONE, body="Yes, after 5 please")
    return callback


def banner(client, callback) -> str:
    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    start = html.index('class="crisis-banner"')
    return html[start : html.index("</section>", start)]


def test_a_strangers_crisis_words_are_never_shown_as_the_persons(
    client, coordinator, person, route
):
    # Someone else names the person's number, with their own address.
    crisis = route(submit_lead(phone=PERSON_PHONE, email=OTHER_EMAIL, message=CRISIS_WORDS))
    verified_login(client, coordinator)

    shown = banner(client, person)

    assert crisis.pk == person.pk  # the same person's callback
    assert "The person wrote" not in shown
    assert "This request says" in shown
    assert CRISIS_WORDS in shown
    assert OTHER_EMAIL in shown  # the request's own details
    assert "not the lead's" in shown


def test_a_crisis_request_from_another_number_puts_that_number_first(
    client, coordinator, person, route
):
    # Matched by the person's email, but it gave another number.
    route(submit_lead(phone=OTHER_PHONE, email=PERSON_EMAIL, message=CRISIS_WORDS))
    verified_login(client, coordinator)

    shown = banner(client, person)
    protocol = shown[shown.index('class="protocol"') :]
    first_step = protocol[: protocol.index("</li>")]

    assert "(202) 555-0188" in first_step  # the number that request gave
    assert 'href="tel:+12025550188"' in first_step
    assert "before any emergency dispatch" in first_step
    assert protocol.index("(202) 555-0188") < protocol.index("911")


def test_even_a_request_naming_only_the_persons_proven_details_is_what_a_request_says(
    client, coordinator, person, route
):
    route(submit_lead(phone=PERSON_PHONE, email=PERSON_EMAIL, message=CRISIS_WORDS))
    verified_login(client, coordinator)

    shown = banner(client, person)

    # A form proves nothing about who typed it, even with the person's own number.
    assert "The person wrote" not in shown
    assert "This request says" in shown
    assert "the lead's number, verified" in shown
    assert "the lead's address, not verified" in shown


def test_the_protocol_begins_with_reaching_the_person_whatever_is_configured(
    client, coordinator, route, settings
):
    settings.CRISIS_PROTOCOL_STEPS = ["Call 911 with the person's location", "Write notes"]
    callback = route(submit_lead(phone=OTHER_PHONE, email=OTHER_EMAIL, message=CRISIS_WORDS))
    verified_login(client, coordinator)

    protocol = banner(client, callback)
    protocol = protocol[protocol.index('class="protocol"') :]

    assert protocol.index("(202) 555-0188") < protocol.index("Call 911")
    assert protocol.index("before any emergency dispatch") < protocol.index("Call 911")


def test_a_crisis_request_without_a_number_says_so_and_offers_the_leads(
    client, coordinator, person, route
):
    route(submit_lead(phone=None, email=PERSON_EMAIL, message=CRISIS_WORDS))
    verified_login(client, coordinator)

    shown = banner(client, person)
    protocol = shown[shown.index('class="protocol"') :]
    first_step = protocol[: protocol.index("</li>")]

    assert "gave no number" in first_step
    assert 'href="tel:+12025550143"' in first_step


def test_a_labelled_crisis_stays_urgent_and_due_at_once(person, route):
    crisis = submit_lead(phone=PERSON_PHONE, email=OTHER_EMAIL, message=CRISIS_WORDS)

    callback = route(crisis)

    callback = Callback.objects.get(pk=callback.pk)
    assert callback.is_urgent
    assert callback.due_at <= crisis.created_at
