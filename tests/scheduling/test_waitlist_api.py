"""The waitlist's staff API (issue 25, item 5): ``POST /api/v1/leads/{reference}/waitlist/``
puts a person on the waitlist only when nothing is open within WAITLIST_AFTER_DAYS
(else a 400 "book instead" with the open times), field errors in the one error shape,
the list in waitlist order, removal, roles, and every answer on the audit trail."""

from __future__ import annotations

import pytest
from django.db import connection

from intake.models import Lead, LeadEvent
from intake.services import lead_details_verify
from scheduling.models import WaitlistEntry
from tests.factories import submit_lead
from tests.scheduling.waitlist_setup import book_up, monday_clinician, waitlist_configure

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    waitlist_configure(settings)


@pytest.fixture
def clinician():
    return monday_clinician()


@pytest.fixture
def staff_api(api_client, coordinator):
    api_client.force_authenticate(coordinator)
    return api_client


def person(route, **fields):
    submission = submit_lead(**fields)
    route(submission)
    lead_details_verify(lead_id=submission.lead_id, phone=True, by=Lead.Verification.CALL)
    return submission


def url(reference: str) -> str:
    return f"/api/v1/leads/{reference}/waitlist/"


def test_a_time_open_in_the_window_answers_book_instead(staff_api, clinician, route):
    submission = person(route)

    response = staff_api.post(url(submission.reference), {"reason": "no-times-soon"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "book_instead"
    assert "book it instead" in body["message"]
    assert "earliest_date" in body["fields"]
    assert [slot["starts_at"][:16] for slot in body["next_slots"]] == [
        "2026-11-30T16:00",
        "2026-11-30T17:00",
    ]
    assert not WaitlistEntry.objects.exists()


def test_a_coordinator_puts_a_person_on_the_waitlist(staff_api, clinician, route, coordinator):
    book_up(clinician, route)
    submission = person(route)

    response = staff_api.post(
        url(submission.reference.lower()),
        {
            "reason": "times-that-suit",
            "earliest_date": "2026-11-30",
            "note": "Afternoons only",
            "modality": "phone",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["lead_id"] == submission.lead_id
    assert (body["reason"], body["earliest_date"], body["modality"]) == (
        "times-that-suit",
        "2026-11-30",
        "phone",
    )
    assert (body["status"], body["created_by"], body["note"]) == (
        "active",
        coordinator.username,
        "Afternoons only",
    )
    assert body["offer_reachable"] is True
    assert LeadEvent.objects.filter(pgh_obj_id=submission.lead_id, pgh_label="lead.read").exists()
    again = staff_api.post(url(submission.reference), {"reason": "other"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "already_waiting")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "because"}, "reason"),
        ({"reason": "other", "earliest_date": "yesterday"}, "earliest_date"),
        ({"reason": "other", "earliest_date": "2026-11-29"}, "earliest_date"),
        ({"reason": "other", "note": "x" * 1001}, "note"),
        ({"reason": "other", "modality": "telepathy"}, "modality"),
    ],
)
def test_bad_input_gets_field_errors_and_writes_nothing(staff_api, clinician, route, body, field):
    book_up(clinician, route)
    submission = person(route)

    response = staff_api.post(url(submission.reference), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not WaitlistEntry.objects.exists()


def test_an_unknown_reference_is_404(staff_api, clinician):
    response = staff_api.post(url("NOPE1234"), {"reason": "other"}, format="json")
    assert response.status_code == 404


def test_only_care_staff_may_use_it(api_client, marketer, clinician, route):
    submission = person(route)
    api_client.force_authenticate(marketer)

    assert api_client.post(url(submission.reference), {"reason": "other"}).status_code == 403
    assert api_client.get("/api/v1/waitlist/").status_code == 403


def test_the_list_is_in_waitlist_order_and_removal_takes_a_person_off(staff_api, clinician, route):
    book_up(clinician, route)
    first, second = person(route, first_name="Ann"), person(route, first_name="Bea")
    for submission in (first, second):
        staff_api.post(url(submission.reference), {"reason": "other"}, format="json")

    listed = staff_api.get("/api/v1/waitlist/").json()
    assert [row["first_name"] for row in listed] == ["Ann", "Bea"]

    entry_id = listed[0]["id"]
    removed = staff_api.post(f"/api/v1/waitlist/{entry_id}/remove/")
    assert (removed.status_code, removed.json()["status"]) == (200, "removed")
    assert staff_api.post(f"/api/v1/waitlist/{entry_id}/remove/").status_code == 409
    assert staff_api.post("/api/v1/waitlist/999999/remove/").status_code == 404
    assert [row["first_name"] for row in staff_api.get("/api/v1/waitlist/").json()] == ["Bea"]
    history = staff_api.get(url(first.reference)).json()
    assert [row["status"] for row in history] == ["removed"]


def test_the_note_is_encrypted_at_rest(staff_api, clinician, route):
    book_up(clinician, route)
    submission = person(route)
    staff_api.post(
        url(submission.reference), {"reason": "other", "note": "Ask for Dr. Rivera"}, format="json"
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT note FROM scheduling_waitlistentry")
        (stored,) = cursor.fetchone()
    assert "Rivera" not in stored and stored
