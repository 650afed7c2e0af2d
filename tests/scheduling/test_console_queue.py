"""The queue fragment the console polls: the head of the queue, worked out once per row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling.models import Callback
from scheduling.views import console as views
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


def test_the_fragment_shows_the_head_of_the_queue_and_how_many_more(
    client, coordinator, route, monkeypatch
):
    monkeypatch.setattr(views, "QUEUE_ROWS", 3)
    callbacks = [route(submit_lead(first_name=f"Person{index}")) for index in range(5)]
    verified_login(client, coordinator)

    html = client.get("/console/queue/").content.decode()

    assert html.count("<tr class=") == 3
    assert "Person0" in html and "Person2" in html and "Person4" not in html
    assert "And 2 more in the queue" in html
    assert f'href="/console/callbacks/{callbacks[0].pk}/"' in html


def test_each_row_says_when_it_is_due_who_holds_it_and_which_try(
    client, coordinator, supervisor, route
):
    late, retried, held = (route(submit_lead()) for _ in range(3))
    now = timezone.now()
    Callback.objects.filter(pk=late.pk).update(due_at=now - timedelta(minutes=75, seconds=5))
    Callback.objects.filter(pk=retried.pk).update(
        retry_at=now + timedelta(hours=2, minutes=1), unanswered_attempts=1
    )
    Callback.objects.filter(pk=held.pk).update(
        status=Callback.Status.CLAIMED, claimed_by=supervisor, is_urgent=True, patient_replied=True
    )
    verified_login(client, coordinator)

    html = client.get("/console/queue/").content.decode()

    assert '<span class="badge warn">Overdue</span> 1\xa0hour, 15\xa0minutes' in html
    assert "retry in 2\xa0hours" in html
    assert '<span class="badge">Try 2</span>' in html
    assert f"With {supervisor.username}" in html
    assert '<span class="badge bad">Urgent</span> <span class="badge warn">Replied</span>' in html
    assert "more in the queue" not in html


def test_a_span_reads_like_timesince():
    assert views._span(0) == "0\xa0minutes"
    assert views._span(61) == "1\xa0minute"
    assert views._span(3 * 3600 + 120) == "3\xa0hours, 2\xa0minutes"
    assert views._span(2 * 86400 + 3600 + 60) == "2\xa0days, 1\xa0hour"


def test_the_counts_are_of_the_live_queue_each_by_its_own_rule(route, supervisor):
    from scheduling import selectors

    open_late, held_urgent, replied, done = (route(submit_lead()) for _ in range(4))
    now = timezone.now()
    Callback.objects.filter(pk=open_late.pk).update(due_at=now - timedelta(minutes=5))
    Callback.objects.filter(pk=held_urgent.pk).update(
        status=Callback.Status.CLAIMED, claimed_by=supervisor, is_urgent=True
    )
    Callback.objects.filter(pk=replied.pk).update(patient_replied=True, due_at=now + timedelta(1))
    Callback.objects.filter(pk=done.pk).update(
        status=Callback.Status.DONE, is_urgent=True, patient_replied=True, due_at=now
    )
    overdue = Callback.objects.filter(
        status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED], due_at__lt=timezone.now()
    ).count()

    counts = selectors.callback_queue_counts()

    assert counts == {"open": 2, "claimed": 1, "overdue": overdue, "urgent": 1, "replied": 1}
    assert overdue >= 1  # the late one, at least (the others are due about now)
