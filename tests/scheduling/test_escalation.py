from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from scheduling.models import Callback, StaffAlert
from scheduling.services import callbacks_escalate
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def overdue(route):
    def make(minutes_late: int) -> Callback:
        callback = route(submit_lead())
        due = timezone.now() - timedelta(minutes=minutes_late)
        Callback.objects.filter(pk=callback.pk).update(due_at=due, original_due_at=due)
        return callback

    return make


def test_five_minutes_late_alerts_the_pool_once(
    overdue, coordinator, django_capture_on_commit_callbacks, mailoutbox
):
    coordinator.email = "coord@clinic.example"
    coordinator.save()
    overdue(6)

    with django_capture_on_commit_callbacks(execute=True):
        assert callbacks_escalate() == {"pool": 1, "supervisor": 0}
        assert callbacks_escalate() == {"pool": 0, "supervisor": 0}

    alert_row = StaffAlert.objects.get()
    assert alert_row.audience == StaffAlert.Audience.POOL
    (alert,) = [email for email in mailoutbox if email.to == ["coord@clinic.example"]]
    # The reason and the time in words, a link to act on it, and no personal data.
    assert "Past its due time and nobody has taken it" in alert.subject
    assert "Raised at" in alert.body and "waited 6" in alert.body
    assert f"/console/callbacks/{alert_row.callback_id}/" in alert.body
    assert "Maria" not in alert.body and "Maria" not in alert.subject


def test_fifteen_minutes_late_goes_to_a_supervisor(overdue, supervisor):
    overdue(16)
    assert callbacks_escalate() == {"pool": 0, "supervisor": 1}
    assert StaffAlert.objects.get().audience == StaffAlert.Audience.SUPERVISOR


def test_a_callback_that_escalates_over_time_alerts_the_pool_then_the_supervisor(overdue):
    overdue(6)
    callbacks_escalate()
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        callbacks_escalate()
    assert set(StaffAlert.objects.values_list("audience", flat=True)) == {"pool", "supervisor"}


def test_claiming_resolves_the_alerts(overdue, coordinator):
    from scheduling.services import callback_claim_next

    overdue(6)
    callbacks_escalate()
    callback_claim_next(user_id=coordinator.pk)
    assert StaffAlert.objects.get().resolved_at is not None


def test_callbacks_not_yet_late_are_left_alone(overdue):
    overdue(2)
    assert callbacks_escalate() == {"pool": 0, "supervisor": 0}
