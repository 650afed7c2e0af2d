"""How many queries claim-next and the queue page cost (issue 14: at most 4 each, with
the one bulk ``lead.read`` audit INSERT), on PostgreSQL.

Counted is the view's own work: every staff request also pays for its sign-in
(session, user, second factor, role, the session's save) and the audit context's
reset, and inside a test's transaction each ``atomic`` adds a SAVEPOINT pair that
production does not send (there it is BEGIN and COMMIT on the same connection)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import Callback, CallbackEvent, StaffAlert
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the one-statement claim is PostgreSQL's"
    ),
]

SIGN_IN = (
    'SELECT "django_session".',
    'SELECT "auth_user".',
    'SELECT "otp_totp_totpdevice".',
    'SELECT "auth_group".',
    'UPDATE "django_session"',
    'INSERT INTO "django_session"',
)
CONTEXT_RESET = (
    "SELECT set_config('pghistory.context_id', '', true), "
    "set_config('pghistory.context_metadata', '', true)"
)


def _own(sql: str) -> str | None:
    """The statement the view sent, without the audit context pghistory puts in front
    of writes; None for sign-in, the context reset and the test's savepoints."""
    if sql.startswith("SELECT set_config('pghistory.context_id'") and "; " in sql:
        sql = sql.split("; ", 1)[1]
    if sql.startswith(SIGN_IN) or sql == CONTEXT_RESET:
        return None
    if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
        return None
    return sql


def _view_queries(client, method: str, path: str) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path)
    own = [_own(query["sql"]) for query in captured.captured_queries]
    return response, [sql for sql in own if sql is not None]


@pytest.fixture
def console(client, coordinator):
    verified_login(client, coordinator)
    return client


@pytest.fixture
def queued(route):
    def make(count: int) -> list[Callback]:
        return [route(submit_lead()) for _ in range(count)]

    return make


def test_claim_next_over_the_api_is_the_claim_the_lead_stage_and_the_answer(console, queued):
    queued(3)

    response, queries = _view_queries(console, "post", "/api/v1/callbacks/claim-next/")

    assert response.status_code == 200
    assert len(queries) == 4, queries
    claim, stage, read, answer = queries
    assert claim.startswith("/* callback claim-next */")
    assert stage.startswith('UPDATE "intake_lead" SET "stage"')
    assert read.startswith('INSERT INTO "intake_leadevent"')  # the lead.read audit
    assert answer.startswith('SELECT "scheduling_callback"."id"')
    assert response.json()["claimed_by"] == "coordinator-user"


def test_the_console_claim_action_is_two_queries(console, queued):
    queued(3)

    response, queries = _view_queries(console, "post", "/console/next/")

    assert response.status_code == 302
    assert len(queries) == 2, queries


def test_a_held_claim_comes_back_with_the_claim_statement_alone(console, queued):
    queued(2)
    first = console.post("/api/v1/callbacks/claim-next/").json()["id"]

    response, queries = _view_queries(console, "post", "/api/v1/callbacks/claim-next/")

    assert response.json()["id"] == first
    assert len(queries) == 3, queries  # the claim (a renewal), the read's audit, the answer


def test_claiming_settles_the_callbacks_alerts_in_the_same_statement(console, queued):
    first, _second = queued(2)
    alert = StaffAlert.objects.create(callback=first, kind="unclaimed", audience="pool")

    _response, queries = _view_queries(console, "post", "/api/v1/callbacks/claim-next/")

    assert len(queries) == 4, queries  # the claim, the lead stage, the read's audit, the answer
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_the_claim_statement_carries_the_audit_context(console, coordinator, queued):
    (callback,) = queued(1)

    console.post("/api/v1/callbacks/claim-next/")

    event = (
        CallbackEvent.objects.filter(pgh_obj_id=callback.pk, status="claimed")
        .order_by("pgh_id")
        .last()
    )
    assert event is not None
    assert event.pgh_context is not None
    assert event.pgh_context["user"] == coordinator.pk
    assert event.pgh_context["route"] == "api/v1/callbacks/claim-next/"


def test_an_empty_queue_costs_the_claim_statement_only(console):
    response, queries = _view_queries(console, "post", "/api/v1/callbacks/claim-next/")

    assert response.status_code == 204
    assert len(queries) == 1, queries


@pytest.mark.parametrize("rows", [3, 30])
def test_the_queue_page_is_four_queries_however_long_the_queue(console, supervisor, queued, rows):
    callbacks = queued(rows)
    Callback.objects.filter(pk=callbacks[0].pk).update(
        status="claimed", claimed_by=supervisor, is_urgent=True
    )
    StaffAlert.objects.create(callback=callbacks[1], kind="unclaimed", audience="pool")

    response, queries = _view_queries(console, "get", "/console/queue/")

    assert response.status_code == 200
    # The rows, the counts, the open alerts, and the audit trail's one INSERT of the
    # names shown (the first time this coordinator sees them).
    assert len(queries) == 4, queries
    assert queries[-1].startswith('INSERT INTO "intake_leadevent"') or any(
        sql.startswith('INSERT INTO "intake_leadevent"') for sql in queries
    )
    html = response.content.decode()
    assert f"With {supervisor.username}" in html
    assert html.count("<tr class=") == rows


def test_polling_the_queue_page_again_is_three_queries(console, queued):
    queued(5)
    console.get("/console/queue/")

    _response, queries = _view_queries(console, "get", "/console/queue/")

    assert len(queries) == 3, queries  # names already on the trail in this window
