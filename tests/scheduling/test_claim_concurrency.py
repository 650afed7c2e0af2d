"""Many coordinators pressing "Next callback" at once, on PostgreSQL with real connections."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import timezone

from scheduling.models import Callback
from scheduling.services import callback_claim_next
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

CLAIMERS = 50


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, there is no race to test")


def test_fifty_concurrent_claimers_never_share_and_never_skip(postgres_only):
    # Committed for real: each submission is routed (inline) into a callback.
    for _ in range(CLAIMERS + 10):
        submit_lead()
    now = timezone.now()
    for index, callback in enumerate(Callback.objects.order_by("?")):
        due = now + timedelta(seconds=index)
        Callback.objects.filter(pk=callback.pk).update(due_at=due, original_due_at=due)
    assert Callback.objects.count() == CLAIMERS + 10
    users = [
        get_user_model().objects.create(username=f"claimer-{index}") for index in range(CLAIMERS)
    ]
    best = list(
        Callback.objects.order_by("original_due_at").values_list("pk", flat=True)[:CLAIMERS]
    )
    start = threading.Barrier(CLAIMERS)
    claimed: dict[int, int | None] = {}
    errors: list[BaseException] = []

    def claim(user_id: int) -> None:
        try:
            start.wait()
            callback = callback_claim_next(user_id=user_id)
            claimed[user_id] = callback.pk if callback else None
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(user.pk,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert None not in claimed.values()
    assert len(claimed) == CLAIMERS
    assert len(set(claimed.values())) == CLAIMERS  # nobody got the same callback
    assert sorted(claimed.values()) == sorted(best)  # the best fifty, none skipped
    holders = dict(Callback.objects.filter(pk__in=best).values_list("pk", "claimed_by_id"))
    assert {holders[pk] for pk in claimed.values()} == set(claimed)


def test_a_coordinator_claiming_from_many_tabs_at_once_holds_one_callback(postgres_only):
    """Five coordinators, each pressing "Next callback" in four tabs at the same moment
    (twenty connections): every coordinator ends up with exactly one callback, every
    tab of theirs was given that same one, and nobody shares a callback."""
    for _ in range(30):
        submit_lead()
    coordinators = [get_user_model().objects.create(username=f"tabs-{index}") for index in range(5)]
    tabs = [user.pk for user in coordinators for _ in range(4)]
    start = threading.Barrier(len(tabs))
    given: list[tuple[int, int | None]] = []
    errors: list[BaseException] = []

    def claim(user_id: int) -> None:
        try:
            start.wait()
            callback = callback_claim_next(user_id=user_id)
            given.append((user_id, callback.pk if callback else None))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(user_id,)) for user_id in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(given) == len(tabs)
    for user in coordinators:
        theirs = {pk for user_id, pk in given if user_id == user.pk}
        assert len(theirs) == 1 and None not in theirs  # every tab: the same callback
        held = Callback.objects.filter(claimed_by=user, status=Callback.Status.CLAIMED)
        assert list(held.values_list("pk", flat=True)) == list(theirs)
    assert Callback.objects.filter(status=Callback.Status.CLAIMED).count() == len(coordinators)
