"""The supervisor board can be acted on: every count is the length of its list (urgent
includes a crisis waiting for its next try), alerts name the person and say why and
since when, and Acknowledge, Reassign and the crisis decision work from it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from clinic.business_time import clinic_zone
from intake.models import LeadEvent
from scheduling.models import Callback, CrisisDecision, StaffAlert
from scheduling.services import attempt_log, callback_claim_next, callbacks_escalate
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

CRISIS_WORDS = "I can't go on like this"


def _due(callback: Callback, minutes: int) -> None:
    moment = timezone.now() + timedelta(minutes=minutes)
    Callback.objects.filter(pk=callback.pk).update(due_at=moment, original_due_at=moment)


def _lists(html: str) -> tuple[dict[str, int], dict[str, int]]:
    """What each count says, and how many rows its list shows."""
    counts = {name: int(value) for name, value in re.findall(r'data-count="(\w+)">(\d+)<', html)}
    shown = {}
    for name in counts:
        start = html.index(f'data-list="{name}"')
        shown[name] = html[start : html.index("</ul>", start)].count("data-item")
    return counts, shown


@pytest.fixture
def board(client, supervisor):
    verified_login(client, supervisor)
    return client


@pytest.fixture
def waiting_crisis(route, coordinator, django_capture_on_commit_callbacks):
    """A crisis callback that was not answered and waits hours for its next try."""
    callback = route(submit_lead(first_name="Alex", message=CRISIS_WORDS))
    callback_claim_next(user_id=coordinator.pk)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="no_answer")
    later = timezone.now() + timedelta(hours=3)
    Callback.objects.filter(pk=callback.pk).update(retry_at=later, due_at=later)
    return callback


def test_every_count_on_the_board_is_the_length_of_its_list(
    board, route, coordinator, waiting_crisis
):
    overdue_crisis = route(submit_lead(first_name="Jamie", message="I want to die"))
    _due(overdue_crisis, -20)
    claimed_late = route(submit_lead(first_name="Robin"))
    _due(claimed_late, -30)
    Callback.objects.filter(pk=claimed_late.pk).update(
        status="claimed",
        claimed_by=coordinator,
        lease_expires_at=timezone.now() + timedelta(minutes=9),
    )
    _due(route(submit_lead(first_name="Sam")), 12)
    _due(route(submit_lead(first_name="Kim")), 24 * 60)  # tomorrow: on no list
    callbacks_escalate()

    html = board.get("/console/board/").content.decode()
    counts, shown = _lists(html)

    assert counts == shown
    assert counts == {"urgent": 2, "alerts": 3, "overdue": 2, "due_soon": 1, "in_progress": 1}
    urgent = html[html.index('data-list="urgent"') :]
    assert "Alex" in urgent[: urgent.index("</ul>")]  # the crisis waiting for its next try


def test_a_long_list_says_how_many_more_than_it_shows(board, route, monkeypatch):
    monkeypatch.setattr("scheduling.selectors.alerts.BOARD_ROWS", 2)
    for name in ("Ann", "Bea", "Cy"):
        _due(route(submit_lead(first_name=name)), -10)

    html = board.get("/console/board/").content.decode()

    counts, shown = _lists(html)
    assert (counts["overdue"], shown["overdue"]) == (3, 2)
    assert "And 1 more." in html


def test_an_alert_shows_the_first_name_why_and_since_when_and_the_read_is_recorded(
    board, waiting_crisis, supervisor
):
    html = board.get("/console/board/").content.decode()

    alert = StaffAlert.objects.get(callback=waiting_crisis, kind="urgent")
    item = html[html.index(f'id="alert-{alert.pk}"') :]
    item = item[: item.index("</li>")]
    assert "Alex" in item and "Crisis request: not reached yet" in item
    assert re.search(r"Raised 0\xa0minutes ago \(\d\d:\d\d\)", item)
    assert ">Acknowledge<" in item and ">Reassign<" in item
    assert "callback #" not in html
    [read] = LeadEvent.objects.filter(pgh_obj_id=waiting_crisis.lead_id, pgh_label="lead.read")
    assert read.pgh_context["read"] == "supervisor board"
    assert read.pgh_context["user"] == supervisor.pk


def test_acknowledging_settles_an_ordinary_alert_but_a_crisis_alert_stays_open(
    board, route, waiting_crisis, supervisor
):
    late = route(submit_lead(first_name="Robin"))
    _due(late, -20)
    callbacks_escalate()
    ordinary = StaffAlert.objects.get(callback=late, audience="supervisor")
    crisis = StaffAlert.objects.get(callback=waiting_crisis, kind="urgent")

    for alert in (ordinary, crisis):
        response = board.post(f"/console/alerts/{alert.pk}/acknowledge/")
        assert response.status_code == 302
        alert.refresh_from_db()
        assert alert.acknowledged_by == supervisor

    assert ordinary.resolved_at is not None
    assert crisis.resolved_at is None
    html = board.get("/console/board/").content.decode()
    assert f'id="alert-{crisis.pk}"' in html and "seen by supervisor-user" in html
    assert f'id="alert-{ordinary.pk}"' not in html


def test_only_a_supervisor_acts_on_the_board(client, coordinator, waiting_crisis):
    verified_login(client, coordinator)
    alert = StaffAlert.objects.get(callback=waiting_crisis, kind="urgent")

    assert client.get("/console/board/").status_code == 403
    assert client.post(f"/console/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert client.post(f"/console/callbacks/{waiting_crisis.pk}/decide/").status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_acknowledging_an_unknown_alert_is_a_404(board):
    assert board.post("/console/alerts/987654/acknowledge/").status_code == 404


def test_reassigning_a_crisis_keeps_its_alert_and_tells_the_new_coordinator(
    board, client, waiting_crisis, coordinator, django_capture_on_commit_callbacks
):
    coordinator.email = "casey@clinic.example"
    coordinator.save()

    with django_capture_on_commit_callbacks(execute=True):
        response = board.post(
            f"/console/callbacks/{waiting_crisis.pk}/assign/",
            {"user_id": coordinator.pk, "from": "board"},
        )

    assert response.status_code == 302 and response.url == "/console/board/"
    waiting_crisis.refresh_from_db()
    assert waiting_crisis.claimed_by == coordinator
    assert StaffAlert.objects.get(callback=waiting_crisis, kind="urgent").resolved_at is None
    [email] = [m for m in mail.outbox if m.to == ["casey@clinic.example"]]
    assert "A supervisor gave you a crisis callback" in email.subject
    assert f"/console/callbacks/{waiting_crisis.pk}/" in email.body
    for personal in ("Alex", CRISIS_WORDS, "202555"):
        assert personal not in email.subject + email.body

    # Their console says so within a poll, until they open it.
    verified_login(client, coordinator)
    queue = client.get("/console/queue/").content.decode()
    assert "A supervisor gave you an urgent callback" in queue and "Alex" in queue
    client.get(f"/console/callbacks/{waiting_crisis.pk}/")
    assert "A supervisor gave you" not in client.get("/console/queue/").content.decode()


def test_a_supervisor_taking_a_callback_themselves_gets_no_notice(
    board, waiting_crisis, supervisor
):
    board.post(f"/console/callbacks/{waiting_crisis.pk}/assign/", {"user_id": supervisor.pk})

    assert not StaffAlert.objects.filter(kind=StaffAlert.Kind.ASSIGNED).exists()


@pytest.fixture
def deciding(waiting_crisis):
    """The crisis steps are spent: a supervisor decides."""
    StaffAlert.objects.create(
        callback=waiting_crisis, kind=StaffAlert.Kind.CRISIS_DECISION, audience="supervisor"
    )
    Callback.objects.filter(pk=waiting_crisis.pk).update(unanswered_attempts=4)
    return waiting_crisis


def test_the_board_offers_the_decision_and_takes_it(board, deciding):
    html = board.get("/console/board/").content.decode()
    assert "Crisis request not reached after 4 calls" in html
    assert "Keep trying at (clinic time)" in html and ">Close: unreachable<" in html

    when = timezone.localtime(timezone.now() + timedelta(hours=2), clinic_zone())
    response = board.post(
        f"/console/callbacks/{deciding.pk}/decide/",
        {"action": "retry", "retry_at": f"{when:%Y-%m-%dT%H:%M}", "reason": "Try after dinner"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Decision saved: keep trying at" in response.content.decode()
    decision = CrisisDecision.objects.get()
    assert (decision.action, decision.reason) == ("retry", "Try after dinner")
    assert decision.retry_at == when.replace(second=0, microsecond=0)  # read in clinic time


def test_a_refused_decision_shows_the_error_by_its_field_and_keeps_the_reason(board, deciding):
    response = board.post(
        f"/console/callbacks/{deciding.pk}/decide/",
        {"action": "retry", "retry_at": "", "reason": "Her mother will call back"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-invalid="true" aria-describedby="retry-' in html
    assert "Say when to try again." in html
    assert ">Her mother will call back</textarea>" in html
    assert CrisisDecision.objects.count() == 0


def test_a_time_on_no_such_day_is_a_field_error_not_a_500(board, deciding):
    response = board.post(
        f"/console/callbacks/{deciding.pk}/decide/",
        {"action": "retry", "retry_at": "2026-02-30T10:00", "reason": "Her mother will call"},
    )

    assert response.status_code == 400
    assert "Not a date and time." in response.content.decode()
    assert CrisisDecision.objects.count() == 0


def test_a_decision_on_a_callback_not_waiting_for_one_is_refused(board, waiting_crisis):
    response = board.post(
        f"/console/callbacks/{waiting_crisis.pk}/decide/",
        {"action": "close", "reason": "x"},
        follow=True,
    )

    assert "This callback is not waiting for a decision." in response.content.decode()
    assert CrisisDecision.objects.count() == 0


def test_the_consoles_alert_strip_names_the_person_with_a_link(client, coordinator, route):
    late = route(submit_lead(first_name="Robin"))
    _due(late, -10)
    callbacks_escalate()
    verified_login(client, coordinator)

    html = client.get("/console/queue/").content.decode()

    strip = html[html.index('class="alerts"') : html.index("</ul>", html.index('class="alerts"'))]
    assert f'<a href="/console/callbacks/{late.pk}/">Robin</a>' in strip
    assert "callback #" not in strip
