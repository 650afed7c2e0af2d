"""The waitlist's pages (issue 25, item 5): the person's offer from the link in its text
(the time in their own zone with how it takes place; accept, decline, leave; a
tampered, expired or taken offer answers with a clear page and the next open times),
and the coordinators' side: adding from the callback page, the list, removal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import signing

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from intake.models import Lead
from notifications import refusals
from notifications.models import Message
from scheduling import links, services
from scheduling.models import Appointment, Callback, WaitlistEntry, WaitlistOffer
from scheduling.services import waitlist as services_waitlist
from scheduling.services import waitlist_offers
from tests.factories import submit_lead
from tests.scheduling.conftest import ny
from tests.scheduling.waitlist_setup import (
    MONDAY,
    book_up,
    lead,
    monday_clinician,
    wait,
    waitlist_configure,
)
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    waitlist_configure(settings)


@pytest.fixture
def clinician():
    return monday_clinician()


@pytest.fixture
def offered(clinician, route, coordinator, django_capture_on_commit_callbacks):
    """Two people (Ann in Los Angeles, Bea) offered Monday 11:00 after a cancellation:
    {name: link path}."""
    booked = book_up(clinician, route)
    people = {
        "Ann": lead(route, first_name="Ann", tz_name="America/Los_Angeles"),
        "Bea": lead(route, first_name="Bea"),
    }
    for lead_id in people.values():
        wait(lead_id, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    paths = {}
    for name, lead_id in people.items():
        text = Message.objects.get(
            correlation=f"lead:{lead_id}", template="waitlist_offer", channel="sms"
        )
        paths[name] = re.search(r"https?://[^/]+(/w/\S+/)", text.body).group(1)
    return paths


def test_the_offer_shows_the_time_in_the_persons_zone_with_how(client, offered):
    page = client.get(offered["Ann"])

    assert page.status_code == 200
    html = page.content.decode()
    assert "Monday, November 30 at 8:00 AM PST" in html  # 11:00 in New York
    assert "(in person)" in html and "12 Elm Street, New Haven" in html
    assert 'value="accept"' in html and 'value="decline"' in html
    assert 'name="viewport"' in html


def test_accepting_books_it_and_the_other_link_says_it_was_taken(
    client, offered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(offered["Bea"], {"action": "accept"})

    assert page.status_code == 200
    assert "Your consultation is booked" in page.content.decode()
    assert Appointment.objects.filter(starts_at=ny(30, 11), status="booked").count() == 1
    late = client.post(offered["Ann"], {"action": "accept"})
    assert late.status_code == 409
    html = late.content.decode()
    assert "This time was taken" in html and "Someone else took this time first." in html
    assert "You keep your place on the waitlist" in html
    assert client.get(offered["Ann"]).status_code == 409
    assert Appointment.objects.filter(starts_at=ny(30, 11), status="booked").count() == 1
    mine = client.get(offered["Bea"]).content.decode()
    assert "It is yours" in mine and "See or change your consultation" in mine
    assert 'value="accept"' not in mine


def test_a_person_taken_off_the_waitlist_is_told_and_cannot_accept(client, offered, coordinator):
    entry = WaitlistEntry.objects.get(lead__first_name="Ann")
    services_waitlist.waitlist_remove(entry_id=entry.pk, removed_by_id=coordinator.pk)

    page = client.get(offered["Ann"])
    assert page.status_code == 200
    assert "You are not on the waitlist" in page.content.decode()
    assert 'value="accept"' not in page.content.decode()
    refused = client.post(offered["Ann"], {"action": "accept"})
    assert refused.status_code == 409
    assert "You are no longer on the waitlist." in refused.content.decode()
    assert not Appointment.objects.filter(starts_at=ny(30, 11), status="booked").exists()


def test_an_expired_offer_says_so_with_the_next_open_times(client, offered):
    with time_machine.travel(ny(30, 11, 1), tick=False):
        page = client.get(offered["Ann"])
        refused = client.post(offered["Ann"], {"action": "accept"})

    assert page.status_code == 409
    assert "This offer has expired" in page.content.decode()
    assert "Next open times" in page.content.decode()  # next Monday's
    assert refused.status_code == 409
    assert not WaitlistOffer.objects.filter(status="accepted").exists()


def test_a_tampered_or_old_link_opens_nothing(client, offered):
    token = offered["Ann"].split("/")[2]
    offer_id = links.waitlist_offer_link(token).offer_id
    forged = signing.dumps({"o": offer_id, "e": 999}, salt=links.WAITLIST_OFFER_SALT)
    other_salt = signing.dumps({"o": offer_id, "e": 1}, salt=links.APPOINTMENT_SALT)

    assert client.get(f"/w/{token[:-2]}xx/").status_code == 404
    assert client.get(f"/w/{forged}/").status_code == 404
    assert client.get(f"/w/{other_salt}/").status_code == 404
    assert client.post(f"/w/{token[:-2]}xx/", {"action": "accept"}).status_code == 404
    with time_machine.travel(ny(30, 8) + timedelta(days=8), tick=False):
        assert client.get(offered["Ann"]).status_code == 404
    assert not Appointment.objects.filter(starts_at=ny(30, 11), status="booked").exists()


def _lead_closed(lead: Lead) -> None:
    Lead.objects.filter(pk=lead.pk).update(stage=Lead.Stage.CLOSED)


def _contact_refused(lead: Lead) -> None:
    refusals.refusal_record(
        phone=str(lead.phone), email=lead.email, recorded_by_id=None, source="call"
    )


def _number_changed(lead: Lead) -> None:
    """A coordinator corrected the number and proved the new one: the old text's holder
    is someone else now."""
    Lead.objects.filter(pk=lead.pk).update(
        phone="+12025550188", phone_hash=phone_hash("+12025550188")
    )


@pytest.mark.parametrize("change", [_lead_closed, _contact_refused, _number_changed])
def test_an_offer_link_is_dead_once_the_lead_closed_refused_or_changed_number(
    client, offered, change
):
    entry = WaitlistEntry.objects.get(lead__first_name="Ann")
    change(entry.lead)

    assert client.get(offered["Ann"]).status_code == 404
    assert client.post(offered["Ann"], {"action": "accept"}).status_code == 404
    with pytest.raises(ApplicationError) as refused:
        waitlist_offers.waitlist_offer_accept(offer_id=entry.offers.get().pk, entry_id=entry.pk)
    assert refused.value.status_code == 404
    assert not Appointment.objects.filter(lead_id=entry.lead_id).exists()
    assert WaitlistOffer.objects.get().status == "open"


def test_declining_and_leaving_from_the_link(client, offered):
    declined = client.post(offered["Ann"], {"action": "decline"})
    assert "You keep your place" in declined.content.decode()
    assert WaitlistEntry.objects.get(lead__first_name="Ann").status == "active"

    left = client.post(offered["Ann"], {"action": "leave"})
    assert "You are off the waitlist" in left.content.decode()
    assert WaitlistEntry.objects.get(lead__first_name="Ann").status == "removed"
    refused = client.post(offered["Ann"], {"action": "accept"})
    assert refused.status_code == 409


# --- The console -----------------------------------------------------------------------


@pytest.fixture
def held(client, coordinator, route):
    """A callback claimed by the signed-in coordinator."""
    callback = route(submit_lead(first_name="Dana"))
    verified_login(client, coordinator)
    client.post("/console/next/")
    callback.refresh_from_db()
    assert callback.status == Callback.Status.CLAIMED
    return callback


def test_the_callback_page_says_book_while_times_are_open(client, clinician, held):
    page = client.get(f"/console/callbacks/{held.pk}/").content.decode()

    assert "Times are open within 3 days: book one above rather than wait" in page
    refused = client.post(f"/console/callbacks/{held.pk}/waitlist/", {"reason": "other"})
    assert refused.status_code == 400
    assert "book it instead" in refused.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_a_coordinator_adds_from_the_callback_page_and_sees_the_list(
    client, clinician, route, held
):
    book_up(clinician, route)
    page = client.get(f"/console/callbacks/{held.pk}/").content.decode()
    assert 'id="waitlist-form"' in page
    assert "once the phone is verified" in page

    for typed in ("soon", "2026-02-30", "2026-13-01"):  # not a date, and no such day
        bad = client.post(
            f"/console/callbacks/{held.pk}/waitlist/", {"reason": "other", "earliest_date": typed}
        )
        assert bad.status_code == 400 and "A date." in bad.content.decode()
    added = client.post(
        f"/console/callbacks/{held.pk}/waitlist/",
        {"reason": "other", "earliest_date": MONDAY.isoformat(), "note": "Late afternoons"},
    )
    assert added.status_code == 302
    entry = WaitlistEntry.objects.get(lead_id=held.lead_id)
    assert entry.note == "Late afternoons"
    assert "On the waitlist since" in client.get(f"/console/callbacks/{held.pk}/").content.decode()

    listing = client.get("/console/waitlist/").content.decode()
    assert "Dana" in listing and "Late afternoons" not in listing
    assert "<td>Other</td>" in listing and "No: phone not verified" in listing
    # "²" passes str.isdigit() and fails int(): a 500 once.
    removed = client.post(f"/console/waitlist/{entry.pk}/remove/", {"next": "²"})
    assert removed.status_code == 302 and removed["Location"] == "/console/waitlist/"
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    assert "Nobody is waiting." in client.get("/console/waitlist/").content.decode()


def test_a_person_in_crisis_who_takes_an_offer_is_still_called(
    client, clinician, route, coordinator, django_capture_on_commit_callbacks
):
    """Taking an offered time reached nobody: the crisis callback stays open."""
    booked = book_up(clinician, route)
    crisis = lead(route, message="I want to end my life")
    wait(crisis, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    text = Message.objects.get(correlation=f"lead:{crisis}", template="waitlist_offer_crisis")
    path = re.search(r"https?://[^/]+(/w/\S+/)", text.body).group(1)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(path, {"action": "accept"}).status_code == 200

    assert Appointment.objects.filter(lead_id=crisis, status="booked").exists()
    assert Callback.objects.filter(lead_id=crisis, status="open").exists()
