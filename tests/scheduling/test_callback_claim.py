from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from intake.models import Lead
from scheduling.models import Callback
from scheduling.services import callback_claim_next, callback_release
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(route):
    def make(count: int) -> list[Callback]:
        return [route(submit_lead()) for _ in range(count)]

    return make


def test_the_earliest_due_callback_is_claimed_first(coordinator, queued):
    first, _second = queued(2)

    claimed = callback_claim_next(user_id=coordinator.pk)

    assert claimed.pk == first.pk
    assert claimed.status == Callback.Status.CLAIMED
    assert claimed.claimed_by_id == coordinator.pk
    assert claimed.lease_expires_at > timezone.now()
    assert Lead.objects.get(pk=claimed.lead_id).stage == Lead.Stage.CONTACTING


def test_urgent_callbacks_go_first(coordinator, queued):
    _first, second = queued(2)
    Callback.objects.filter(pk=second.pk).update(is_urgent=True)

    assert callback_claim_next(user_id=coordinator.pk).pk == second.pk


def test_second_claimer_gets_the_next_callback(coordinator, supervisor, queued):
    first, second = queued(2)

    mine = callback_claim_next(user_id=coordinator.pk)
    theirs = callback_claim_next(user_id=supervisor.pk)

    assert {mine.pk, theirs.pk} == {first.pk, second.pk}


def test_a_coordinator_holding_a_claim_gets_the_same_one_back(coordinator, queued):
    queued(2)
    first = callback_claim_next(user_id=coordinator.pk)
    assert callback_claim_next(user_id=coordinator.pk).pk == first.pk


def test_an_expired_lease_returns_the_callback_to_the_queue(coordinator, supervisor, queued):
    (callback,) = queued(1)
    callback_claim_next(user_id=coordinator.pk)
    assert callback_claim_next(user_id=supervisor.pk) is None

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        reclaimed = callback_claim_next(user_id=supervisor.pk)

    assert reclaimed.pk == callback.pk
    assert reclaimed.claimed_by_id == supervisor.pk


def test_only_the_holder_can_release(coordinator, supervisor, queued):
    (callback,) = queued(1)
    callback_claim_next(user_id=coordinator.pk)

    assert callback_release(callback_id=callback.pk, user_id=supervisor.pk) is False
    assert callback_release(callback_id=callback.pk, user_id=coordinator.pk) is True
    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.OPEN


def test_an_empty_queue_gives_nothing(coordinator):
    assert callback_claim_next(user_id=coordinator.pk) is None
