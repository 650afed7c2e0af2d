"""Crisis follow-up in minutes: an unanswered crisis callback is tried again 10 min,
30 min and 2 h later, open or closed; then a supervisor decides, and the callback
stays live and urgent meanwhile. Its supervisor alert stays open through claims,
reassignments and unanswered calls until the person is reached or a supervisor
decides; messages to the person carry 988 and 911 and never say "soon"."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from clinic import business_time
from clinic.errors import ApplicationError
from intake.models import Lead
from notifications.models import Message
from scheduling.models import Callback, CrisisDecision, StaffAlert
from scheduling.selectors import lead_timeline
from scheduling.services import (
    attempt_log,
    callback_assign,
    callback_claim_next,
    callback_crisis_decide,
    lead_work_erase,
)
from tests.factories import UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic_in_new_york")]

NY = ZoneInfo("America/New_York")
CRISIS_WORDS = "I don't see the point in living anymore"
SATURDAY_NIGHT = datetime(2026, 12, 5, 2, 30, tzinfo=NY)  # the clinic is closed


@pytest.fixture
def clock():
    with time_machine.travel(SATURDAY_NIGHT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def crisis_callback(route, clock, supervisor, weekday_hours):
    supervisor.email = "oncall@clinic.example"
    supervisor.save()
    return route(submit_lead(first_name="Alex", message=CRISIS_WORDS))


@pytest.fixture
def miss(coordinator, clock, django_capture_on_commit_callbacks):
    """Claim the callback when it is ready (moving the clock there), log "no answer"."""

    def run(callback: Callback) -> Callback:
        callback.refresh_from_db()
        if callback.retry_at:
            clock.move_to(callback.retry_at)
        assert callback_claim_next(user_id=coordinator.pk).pk == callback.pk
        with django_capture_on_commit_callbacks(execute=True):
            attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="no_answer")
        callback.refresh_from_db()
        return callback

    return run


def _open_alerts(callback: Callback) -> set[str]:
    return set(
        StaffAlert.objects.filter(callback=callback, resolved_at__isnull=True).values_list(
            "kind", flat=True
        )
    )


def test_an_unanswered_crisis_call_is_tried_again_in_10_then_30_minutes_then_2_hours_while_closed(
    crisis_callback, miss
):
    gaps = []
    for _ in range(3):
        callback = miss(crisis_callback)
        gaps.append(callback.retry_at - timezone.now())
        assert (callback.status, callback.is_urgent) == (Callback.Status.OPEN, True)
        assert callback.due_at == callback.retry_at

    assert gaps == [timedelta(minutes=10), timedelta(minutes=30), timedelta(minutes=120)]


def test_a_routine_callback_missed_at_the_same_time_waits_for_the_clinic_to_open(
    route, clock, weekday_hours, coordinator, django_capture_on_commit_callbacks
):
    callback = route(submit_lead(message="Evenings are best"))
    Callback.objects.filter(pk=callback.pk).update(due_at=timezone.now())
    callback_claim_next(user_id=coordinator.pk)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="no_answer")

    callback.refresh_from_db()
    assert callback.retry_at.astimezone(NY).weekday() == 0  # Monday, when it opens


def test_the_crisis_cadence_follows_the_setting(crisis_callback, miss, settings):
    settings.CRISIS_RETRY_MINUTES = [5]

    first = miss(crisis_callback)
    assert first.retry_at - timezone.now() == timedelta(minutes=5)
    assert StaffAlert.Kind.CRISIS_DECISION not in _open_alerts(first)

    second = miss(first)
    assert StaffAlert.Kind.CRISIS_DECISION in _open_alerts(second)


def test_after_the_last_crisis_retry_a_supervisor_decides_and_the_callback_stays_live(
    crisis_callback, miss
):
    for _ in range(4):
        callback = miss(crisis_callback)

    assert callback.unanswered_attempts == 4
    assert (callback.status, callback.result, callback.is_urgent) == ("open", "", True)
    assert Lead.objects.get(pk=callback.lead_id).stage != Lead.Stage.CLOSED
    assert _open_alerts(callback) == {StaffAlert.Kind.URGENT, StaffAlert.Kind.CRISIS_DECISION}
    # Until a supervisor decides, it keeps the last step's interval: never parked.
    assert callback.retry_at - timezone.now() == timedelta(minutes=120)
    # The supervisor is emailed why, since when and where to act; no personal data.
    [email] = [m for m in mail.outbox if "not reached after 4 calls" in m.subject]
    assert email.to == ["oncall@clinic.example"]
    alert = StaffAlert.objects.get(callback=callback, kind=StaffAlert.Kind.CRISIS_DECISION)
    assert f"/console/board/#alert-{alert.pk}" in email.body
    assert "tried again at 07:10" in email.body  # the 4th miss at 05:10, + 2 h
    for personal in ("Alex", CRISIS_WORDS, "202555"):
        assert personal not in email.subject + email.body


def test_the_crisis_alert_stays_open_through_claims_reassignments_and_unanswered_calls(
    crisis_callback, miss, supervisor, coordinator, django_capture_on_commit_callbacks
):
    assert _open_alerts(crisis_callback) == {StaffAlert.Kind.URGENT}

    callback = miss(crisis_callback)  # claimed, then not answered
    assert _open_alerts(callback) == {StaffAlert.Kind.URGENT}

    with django_capture_on_commit_callbacks(execute=True):
        callback_assign(
            callback_id=callback.pk, to_user_id=coordinator.pk, by_user_id=supervisor.pk
        )
    assert StaffAlert.Kind.URGENT in _open_alerts(callback)

    with django_capture_on_commit_callbacks(execute=True):
        attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="reached")
    assert _open_alerts(callback) == set()  # the person was reached


def test_a_claim_still_settles_an_ordinary_alert(route, coordinator):
    callback = route(submit_lead())
    StaffAlert.objects.create(callback=callback, kind="unclaimed", audience="pool")

    callback_claim_next(user_id=coordinator.pk)

    assert _open_alerts(callback) == set()


def test_a_missed_crisis_call_texts_988_and_911_and_never_says_soon(crisis_callback, miss):
    miss(crisis_callback)

    [text] = Message.objects.filter(purpose="follow_up", channel="sms")
    assert text.template == "missed_call_crisis"
    assert "988" in text.body and "911" in text.body
    assert "soon" not in text.body.lower()
    # When the next try comes, as a time in the person's zone: they can keep the phone near.
    callback = Callback.objects.get(pk=crisis_callback.pk)
    local = callback.retry_at.astimezone(business_time.person_zone(callback.lead.timezone))
    assert f"at about {local.strftime('%I:%M %p').lstrip('0')}" in text.body
    # A crisis text has room for its lines, not for a name (confirmed or not).
    assert "Alex" not in text.body


def _decision_pending(crisis_callback, miss) -> Callback:
    for _ in range(4):
        callback = miss(crisis_callback)
    return callback


def test_keep_trying_at_a_time_settles_the_alerts_and_the_next_miss_asks_again(
    crisis_callback, miss, supervisor, django_capture_on_commit_callbacks
):
    callback = _decision_pending(crisis_callback, miss)
    when = timezone.now() + timedelta(minutes=45)

    decision = callback_crisis_decide(
        callback_id=callback.pk,
        user_id=supervisor.pk,
        action="retry",
        retry_at=when,
        reason="Her sister says she is at home; try again after dinner",
    )

    callback.refresh_from_db()
    assert (callback.status, callback.retry_at, callback.claimed_by_id) == ("open", when, None)
    assert _open_alerts(callback) == set()
    assert CrisisDecision.objects.get().reason.startswith("Her sister")
    assert decision.decided_by == supervisor

    decisions_mailed = len([m for m in mail.outbox if "not reached after" in m.subject])
    again = miss(callback)  # at the chosen time, still no answer
    assert StaffAlert.Kind.CRISIS_DECISION in _open_alerts(again)
    assert len([m for m in mail.outbox if "not reached after" in m.subject]) == decisions_mailed + 1


def test_close_as_unreachable_closes_the_lead_and_tells_the_person_988_and_911(
    crisis_callback, miss, supervisor, django_capture_on_commit_callbacks, settings
):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "23:59", "00:00"
    callback = _decision_pending(crisis_callback, miss)

    with django_capture_on_commit_callbacks(execute=True):
        callback_crisis_decide(
            callback_id=callback.pk,
            user_id=supervisor.pk,
            action="close",
            reason="Tried for two days; the on-call clinician agrees",
        )

    callback.refresh_from_db()
    assert (callback.status, callback.result) == ("done", "unreachable")
    lead = Lead.objects.get(pk=callback.lead_id)
    assert (lead.stage, lead.closed_reason) == (Lead.Stage.CLOSED, "unreachable")
    assert _open_alerts(callback) == set()
    final = Message.objects.filter(template="unreachable_crisis")
    assert {message.channel for message in final} == {"sms", "email"}
    for message in final:
        assert "988" in message.body and "911" in message.body
        assert "soon" not in message.body.lower()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"action": "retry", "reason": "ok"}, "retry_at"),
        ({"action": "retry", "reason": "ok", "retry_at": "far"}, "retry_at"),
        ({"action": "close", "reason": "   "}, "reason"),
        ({"action": "forget", "reason": "ok"}, "action"),
    ],
)
def test_a_decision_needs_a_known_action_a_reason_and_a_time_within_a_week(
    crisis_callback, miss, supervisor, values, field
):
    callback = _decision_pending(crisis_callback, miss)
    if values.get("retry_at") == "far":
        values = {**values, "retry_at": timezone.now() + timedelta(days=8)}

    with pytest.raises(ApplicationError) as error:
        callback_crisis_decide(callback_id=callback.pk, user_id=supervisor.pk, **values)

    assert field in error.value.fields
    assert CrisisDecision.objects.count() == 0


def test_only_a_callback_waiting_for_a_decision_can_be_decided(crisis_callback, supervisor):
    with pytest.raises(ApplicationError) as error:
        callback_crisis_decide(
            callback_id=crisis_callback.pk, user_id=supervisor.pk, action="close", reason="x"
        )

    assert error.value.status_code == 409
    crisis_callback.refresh_from_db()
    assert crisis_callback.status == Callback.Status.OPEN


def test_the_decision_is_on_the_timeline_and_erased_with_the_lead(
    crisis_callback, miss, supervisor
):
    callback = _decision_pending(crisis_callback, miss)
    callback_crisis_decide(
        callback_id=callback.pk,
        user_id=supervisor.pk,
        action="retry",
        retry_at=timezone.now() + timedelta(hours=1),
        reason="Spoke with her mother",
    )

    entries = [e for e in lead_timeline(lead=callback.lead) if e.kind == "decision"]
    assert [e.detail for e in entries] == ["Spoke with her mother"]
    assert "keep trying at" in entries[0].title

    lead_work_erase(lead_id=callback.lead_id)
    assert CrisisDecision.objects.get().reason == ""


def test_an_admin_sees_the_decision_on_the_callback_but_not_its_reason(
    crisis_callback, miss, supervisor, client
):
    callback = _decision_pending(crisis_callback, miss)
    callback_crisis_decide(
        callback_id=callback.pk, user_id=supervisor.pk, action="close", reason="Spoke with Dana"
    )
    admin = UserFactory(username="the-admin", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    verified_login(client, admin)

    html = client.get(f"/admin/scheduling/callback/{callback.pk}/change/").content.decode()

    assert "Close: unreachable" in html
    assert "Spoke with Dana" not in html
