"""Every API answer that carries a lead's personal data (a name, call notes) is on the
audit trail as one ``lead.read`` event per lead, like the console's pages, written in
one statement whatever the page size (clinic.audit.events.events_record_for)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.audit import events as audit
from intake.models import LeadEvent
from scheduling import selectors, services
from scheduling.apis import callbacks as apis
from scheduling.models import Availability, Clinician
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db

NAMES = ("Ann", "Bea", "Cleo", "Dora", "Edda")
PHONES = tuple(f"+1202555{index:04d}" for index in range(150, 155))


@pytest.fixture
def queue(route):
    return [
        route(submit_lead(first_name=name, phone=phone, message="Worse at night"))
        for name, phone in zip(NAMES, PHONES, strict=True)
    ]


@pytest.fixture
def audit_statements(monkeypatch):
    """The statements each audit write made, per call: the audit's whole cost."""
    calls: list[list[str]] = []
    real = audit.events_record_for

    def counted(*args, **kwargs):
        with CaptureQueriesContext(connection) as captured:
            result = real(*args, **kwargs)
        calls.append([query["sql"] for query in captured.captured_queries])
        return result

    monkeypatch.setattr(audit, "events_record_for", counted)
    return calls


@pytest.fixture
def clinician():
    clinician = Clinician.objects.create(name="Dr Rivera", slot_minutes=60)
    for weekday in range(7):
        Availability.objects.create(
            clinician=clinician, weekday=weekday, starts_at=time(0), ends_at=time(23)
        )
    return clinician


def _slots(count: int):
    now = timezone.now()
    return selectors.slots_available(start=now, end=now + timedelta(days=10), limit=count)


def _reads(*, what: str) -> dict[int, list[LeadEvent]]:
    out: dict[int, list[LeadEvent]] = {}
    for event in LeadEvent.objects.filter(pgh_label="lead.read", pgh_context__read=what):
        out.setdefault(event.pgh_obj_id, []).append(event)
    return out


def _assert_named_and_without_personal_data(events: list[LeadEvent], user) -> None:
    for event in events:
        assert event.pgh_context["user"] == user.pk
        assert event.pgh_context["roles"] == ["coordinator"]
        assert event.pgh_context_id is not None
        assert event.pgh_obj_id == event.id
        stored = {f.attname: getattr(event, f.attname) for f in LeadEvent._meta.concrete_fields}
        text = repr(stored)
        for personal in (*NAMES, *(phone[2:] for phone in PHONES), "@", "Worse at night"):
            assert personal not in text


def _one_insert(calls: list[list[str]]) -> None:
    """Exactly one audit write, of exactly one statement: an INSERT of read events."""
    [[statement]] = calls
    # (pghistory puts the context's set_config in front of it, in the same statement)
    assert 'INSERT INTO "intake_leadevent"' in statement


def _without_audit(monkeypatch, request):
    """The same request with the audit write switched off: the baseline (after a first
    one that fills the caches a first request fills)."""
    with monkeypatch.context() as patch:
        patch.setattr(audit, "events_record_for", lambda *args, **kwargs: 0)
        request()
        with CaptureQueriesContext(connection) as captured:
            response = request()
    assert response.status_code in (200, 201)
    return len(captured.captured_queries)


def test_the_queue_api_records_one_read_per_lead_it_names(
    api_client, coordinator, queue, audit_statements, monkeypatch, django_assert_max_num_queries
):
    api_client.force_authenticate(coordinator)
    baseline = _without_audit(monkeypatch, lambda: api_client.get("/api/v1/callbacks/"))

    with django_assert_max_num_queries(baseline + 1) as captured:
        response = api_client.get("/api/v1/callbacks/")

    assert response.status_code == 200
    assert len(captured.captured_queries) == baseline + 1  # the audit is one statement
    _one_insert(audit_statements)
    reads = _reads(what="callbacks API")
    assert set(reads) == {callback.lead_id for callback in queue}
    assert all(len(events) == 1 for events in reads.values())
    _assert_named_and_without_personal_data([e for es in reads.values() for e in es], coordinator)
    assert reads[queue[0].lead_id][0].pgh_context["route"] == "api/v1/callbacks/"


def test_a_longer_page_costs_no_more_statements(
    api_client, coordinator, queue, audit_statements, monkeypatch
):
    api_client.force_authenticate(coordinator)
    api_client.get("/api/v1/callbacks/")  # the caches a first request fills
    monkeypatch.setattr(apis, "PAGE_SIZE", 2)
    with CaptureQueriesContext(connection) as short:
        api_client.get("/api/v1/callbacks/")
    monkeypatch.setattr(apis, "PAGE_SIZE", 5)
    with CaptureQueriesContext(connection) as long:
        api_client.get("/api/v1/callbacks/")

    assert len(long.captured_queries) == len(short.captured_queries)
    assert [len(statements) for statements in audit_statements] == [1, 1, 1]


def test_claim_next_records_a_read_of_the_lead_it_hands_out(
    api_client, coordinator, queue, audit_statements, monkeypatch, django_assert_max_num_queries
):
    api_client.force_authenticate(coordinator)
    baseline = _without_audit(monkeypatch, lambda: api_client.post("/api/v1/callbacks/claim-next/"))

    with django_assert_max_num_queries(baseline + 1) as captured:
        response = api_client.post("/api/v1/callbacks/claim-next/")

    assert response.status_code == 200
    assert len(captured.captured_queries) == baseline + 1
    _one_insert(audit_statements)
    lead_id = response.json()["lead_id"]
    reads = _reads(what="callbacks API claim-next")
    assert list(reads) == [lead_id]
    [event] = reads[lead_id]
    _assert_named_and_without_personal_data([event], coordinator)


def test_nothing_to_claim_records_nothing(api_client, coordinator, audit_statements):
    api_client.force_authenticate(coordinator)
    assert api_client.post("/api/v1/callbacks/claim-next/").status_code == 204
    assert audit_statements == []
    assert not LeadEvent.objects.filter(pgh_label="lead.read").exists()


def test_call_attempts_and_their_notes_are_a_read_of_the_lead(
    api_client, coordinator, queue, audit_statements, monkeypatch, django_assert_max_num_queries
):
    api_client.force_authenticate(coordinator)
    claimed = services.callback_claim_next(user_id=coordinator.pk)
    [callback] = [callback for callback in queue if callback.pk == claimed.pk]

    logged = api_client.post(
        f"/api/v1/callbacks/{callback.pk}/attempts/",
        {"outcome": "reached", "notes": "Ann prefers evenings"},
        format="json",
    )
    assert logged.status_code == 201
    _one_insert(audit_statements)
    url = f"/api/v1/callbacks/{callback.pk}/attempts/"
    baseline = _without_audit(monkeypatch, lambda: api_client.get(url))
    with django_assert_max_num_queries(baseline + 1) as captured:
        listed = api_client.get(url)

    assert listed.json()[0]["notes"] == "Ann prefers evenings"
    assert len(captured.captured_queries) == baseline + 1
    assert [len(statements) for statements in audit_statements] == [1, 1]
    reads = _reads(what="call attempts API")
    assert list(reads) == [callback.lead_id]
    assert len(reads[callback.lead_id]) == 2  # the answer to the POST, then the list
    _assert_named_and_without_personal_data(reads[callback.lead_id], coordinator)
    assert "prefers evenings" not in repr([e.pgh_context for e in reads[callback.lead_id]])


def test_a_callback_without_attempts_reads_nothing(
    api_client, coordinator, queue, audit_statements
):
    api_client.force_authenticate(coordinator)
    response = api_client.get(f"/api/v1/callbacks/{queue[0].pk}/attempts/")
    assert response.json() == []
    assert audit_statements == []


def test_the_appointments_api_records_the_leads_it_names(
    api_client,
    coordinator,
    queue,
    clinician,
    audit_statements,
    monkeypatch,
    django_assert_max_num_queries,
):
    api_client.force_authenticate(coordinator)
    first, second = _slots(2)
    booked = api_client.post(
        "/api/v1/appointments/",
        {
            "lead_id": queue[0].lead_id,
            "clinician_id": clinician.pk,
            "starts_at": first.starts_at.isoformat(),
        },
        format="json",
    )
    assert booked.status_code == 201
    _one_insert(audit_statements)
    services.appointment_book(
        lead_id=queue[1].lead_id,
        clinician_id=clinician.pk,
        starts_at=second.starts_at,
        booked_by_id=coordinator.pk,
    )

    baseline = _without_audit(monkeypatch, lambda: api_client.get("/api/v1/appointments/"))
    with django_assert_max_num_queries(baseline + 1) as captured:
        listed = api_client.get("/api/v1/appointments/")
    assert {row["first_name"] for row in listed.json()} == {"Ann", "Bea"}
    assert len(captured.captured_queries) == baseline + 1

    cancelled = api_client.post(f"/api/v1/appointments/{booked.json()['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"

    assert [len(statements) for statements in audit_statements] == [1, 1, 1]
    reads = _reads(what="appointments API")
    assert set(reads) == {queue[0].lead_id, queue[1].lead_id}
    assert len(reads[queue[0].lead_id]) == 3  # booked, listed, cancelled
    assert len(reads[queue[1].lead_id]) == 1
    _assert_named_and_without_personal_data([e for es in reads.values() for e in es], coordinator)


def test_a_refused_api_read_records_nothing(api_client, marketer, queue, audit_statements):
    api_client.force_authenticate(marketer)
    for url in ("/api/v1/callbacks/", "/api/v1/appointments/"):
        assert api_client.get(url).status_code == 403
    assert audit_statements == []
