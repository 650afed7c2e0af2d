from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from intake.models import Lead
from scheduling.models import Callback
from scheduling.services import callback_claim_next, callback_leases_expire, callback_release
from tests.factories import UserFactory, submit_lead

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


def test_the_lease_sweep_reopens_only_lapsed_claims(coordinator, supervisor, queued):
    lapsing, kept = queued(2)
    assert callback_claim_next(user_id=coordinator.pk).pk == lapsing.pk
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert callback_claim_next(user_id=supervisor.pk).pk == kept.pk

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert callback_leases_expire() == 1

    lapsing.refresh_from_db()
    kept.refresh_from_db()
    assert lapsing.status == Callback.Status.OPEN
    assert lapsing.claimed_by_id is None and lapsing.lease_expires_at is None
    assert kept.status == Callback.Status.CLAIMED and kept.claimed_by_id == supervisor.pk


def test_claiming_again_renews_the_held_lease(coordinator, queued):
    queued(2)
    first = callback_claim_next(user_id=coordinator.pk)

    with time_machine.travel(timezone.now() + timedelta(minutes=8)):
        again = callback_claim_next(user_id=coordinator.pk)
        assert again.pk == first.pk
        assert again.lease_expires_at > timezone.now() + timedelta(minutes=9)
    assert Callback.objects.filter(status=Callback.Status.CLAIMED).count() == 1


def test_overdue_then_replied_callbacks_go_before_the_rest(coordinator, supervisor, queued):
    rest, replied, overdue = queued(3)
    now = timezone.now()
    Callback.objects.filter(pk=rest.pk).update(
        due_at=now + timedelta(minutes=1), original_due_at=now - timedelta(hours=2)
    )
    Callback.objects.filter(pk=replied.pk).update(
        due_at=now + timedelta(minutes=1),
        original_due_at=now - timedelta(hours=1),
        patient_replied=True,
    )
    Callback.objects.filter(pk=overdue.pk).update(
        due_at=now - timedelta(minutes=1), original_due_at=now
    )
    third = UserFactory(username="third")

    assert callback_claim_next(user_id=coordinator.pk).pk == overdue.pk
    assert callback_claim_next(user_id=supervisor.pk).pk == replied.pk
    assert callback_claim_next(user_id=third.pk).pk == rest.pk


def test_a_callback_waiting_for_its_retry_time_is_not_handed_out(coordinator, queued):
    (callback,) = queued(1)
    Callback.objects.filter(pk=callback.pk).update(retry_at=timezone.now() + timedelta(hours=1))

    assert callback_claim_next(user_id=coordinator.pk) is None
