"""The batch router (scheduling.services.routing_batch): the same outcome as routing
one by one, in one transaction per batch, each submission routed once."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from phonenumber_field.phonenumber import to_python

from intake import services as intake_services
from intake.models import ROLLUP_IDENTITY, Consent, FunnelRollup, Lead, Submission
from intake.models.funnel import FUNNEL_FIELDS
from intake.services import lead_submit
from notifications.models import Message
from scheduling.models import Callback
from scheduling.services import routing_batch
from scheduling.services.routing_batch import (
    ROUTING_KICK_KEY,
    routing_kick,
    submission_route,
    submissions_route_batch,
    submissions_route_pending,
)
from scheduling.tasks import submissions_sweep
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

ARTICLE = "science-behind-antidepressants"


def _submit(**overrides):
    """A stored submission, not attached nor routed (the POST's part only)."""
    values = {
        "first_name": "Maria",
        "sms_consent": True,
        "article_slug": ARTICLE,
        "ip_address": "203.0.113.9",
        "user_agent": "pytest",
    }
    values.update(overrides)
    if isinstance(values.get("phone"), str):
        values["phone"] = to_python(values["phone"])
    return lead_submit(**values).submission


def _a_burst():
    """Eight requests: a person twice (another first name the second time), an email
    only, a crisis, spam, a person asking for discretion then not, and a "no" to texts."""
    ArticleFactory(slug=ARTICLE)
    return [
        _submit(phone="+12025550301", email="ana@example.org", first_name="Ana"),
        _submit(phone="+12025550301", email="ana@example.org", first_name="Anna"),
        _submit(email="bo@example.org", first_name="Bo"),
        _submit(phone="+12025550303", first_name="Cy", in_crisis=True),
        _submit(phone="+12025550304", first_name="Di", is_spam=True),
        _submit(
            phone="+12025550305", first_name="Ed", contact_preferences={"mention_clinic_ok": False}
        ),
        _submit(phone="+12025550305", first_name="Ed", utm={"utm_source": "news"}),
        _submit(phone="+12025550306", first_name="Flo", sms_consent=False),
    ]


def _outcome(submissions) -> dict:
    """What routing made, in terms that do not depend on row ids."""
    index = {submission.pk: position for position, submission in enumerate(submissions)}
    rows = Submission.objects.filter(pk__in=index).values_list("pk", "lead_id", "processed_at")
    by_lead: dict = {}
    for pk, lead_id, processed_at in rows:
        assert processed_at is not None
        by_lead.setdefault(lead_id, []).append(index[pk])
    return {
        "people": sorted(sorted(group) for lead_id, group in by_lead.items() if lead_id),
        "spam": sorted(group for lead_id, group in by_lead.items() if lead_id is None),
        "leads": sorted(
            Lead.objects.values_list("first_name", "needs_review", "mention_clinic_ok")
        ),
        "callbacks": sorted(
            (index[submission_id], urgent)
            for submission_id, urgent in Callback.objects.values_list("submission_id", "is_urgent")
        ),
        "consents": sorted(
            (index[submission_id], granted)
            for submission_id, granted in Consent.objects.values_list("submission_id", "granted")
        ),
        "messages": sorted(
            Counter(
                Message.objects.values_list("channel", "purpose", "template", "subject")
            ).items()
        ),
        "rollups": sorted(
            tuple(str(value) for value in row)
            for row in FunnelRollup.objects.values_list(*ROLLUP_IDENTITY, *FUNNEL_FIELDS)
        ),
    }


def _routed(route_all, django_capture_on_commit_callbacks) -> dict:
    """The outcome of the burst routed by ``route_all``, then undone."""
    savepoint = transaction.savepoint()
    with django_capture_on_commit_callbacks(execute=False):
        submissions = _a_burst()
    with django_capture_on_commit_callbacks(execute=True):
        route_all(submissions)
    outcome = _outcome(submissions)
    transaction.savepoint_rollback(savepoint)
    return outcome


def test_a_batch_routes_as_routing_one_by_one_does(django_capture_on_commit_callbacks):
    ArticleFactory(slug=ARTICLE)  # one article for both runs

    def one_by_one(submissions):
        for submission in submissions:
            submission_route(submission_id=submission.pk)

    def in_one_batch(submissions):
        result = submissions_route_batch(limit=100)
        assert result.claimed == len(submissions) and not result.failed

    expected = _routed(one_by_one, django_capture_on_commit_callbacks)
    batched = _routed(in_one_batch, django_capture_on_commit_callbacks)

    assert batched == expected
    assert expected["people"] == [[0, 1], [2], [3], [5, 6], [7]]
    assert expected["spam"] == [[4]]
    assert ("Ana", True, True) in expected["leads"]  # another first name: for review
    assert ("Ed", False, False) in expected["leads"]  # the discreet wish holds
    assert sorted(index for index, _urgent in expected["callbacks"]) == [0, 2, 3, 5, 7]
    assert (3, True) in expected["callbacks"]
    assert (7, False) in expected["consents"] and (4, True) not in expected["consents"]


def test_the_batch_rollups_are_those_the_rebuild_computes(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        _a_burst()
    submissions_route_batch(limit=100)
    rollups = FunnelRollup.objects.count()
    assert rollups > 0

    assert intake_services.funnel_rollups_rebuild() == 0
    assert FunnelRollup.objects.count() == rollups


def test_one_persons_two_requests_in_a_batch_make_one_lead_and_one_callback(
    sms_outbox, django_capture_on_commit_callbacks
):
    ArticleFactory(slug=ARTICLE)
    first = _submit(phone="+12025550311", email="jo@example.org")
    second = _submit(phone="+12025550311")

    with django_capture_on_commit_callbacks(execute=True):
        result = submissions_route_batch(limit=10)

    assert result.claimed == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.lead_id == second.lead_id is not None
    assert Callback.objects.filter(lead_id=first.lead_id).count() == 1
    assert result.routed[first.pk] == result.routed[second.pk]
    assert len(sms_outbox) == 1  # one confirmation per number a day


def test_crisis_requests_are_claimed_first_then_the_oldest():
    ArticleFactory(slug=ARTICLE)
    oldest = _submit(phone="+12025550321")
    _submit(phone="+12025550322")
    crisis = _submit(phone="+12025550323", message="I want to kill myself")

    with transaction.atomic():
        claimed = intake_services.submissions_claim(limit=2)

    assert [submission.pk for submission in claimed] == [crisis.pk, oldest.pk]


def test_running_a_batch_again_does_nothing(sms_outbox, django_capture_on_commit_callbacks):
    ArticleFactory(slug=ARTICLE)
    submissions = [_submit(phone=f"+1202555033{n}") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        submissions_route_batch(limit=10)
    rollups = list(FunnelRollup.objects.values_list(*FUNNEL_FIELDS))

    with django_capture_on_commit_callbacks(execute=True):
        again = submissions_route_batch(limit=10)
        single = submission_route(submission_id=submissions[0].pk)

    assert again.claimed == 0 and single is None
    assert Callback.objects.count() == 3 and Consent.objects.count() == 3
    assert len(sms_outbox) == 3
    assert list(FunnelRollup.objects.values_list(*FUNNEL_FIELDS)) == rollups


def test_a_batch_that_dies_commits_nothing_and_is_redone_once(
    monkeypatch, sms_outbox, django_capture_on_commit_callbacks
):
    ArticleFactory(slug=ARTICLE)
    submission = _submit(phone="+12025550341")

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patch:
        patch.setattr(routing_batch.intake_services, "submissions_attach_rollups", database_gone)
        with pytest.raises(OperationalError), django_capture_on_commit_callbacks(execute=True):
            submissions_route_batch(limit=10)
    submission.refresh_from_db()
    assert submission.processed_at is None and submission.lead_id is None
    assert not Callback.objects.exists() and not Message.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert submissions_route_batch(limit=10).claimed == 1
    assert Callback.objects.count() == 1 and Consent.objects.count() == 1
    assert len(sms_outbox) == 1


@pytest.mark.parametrize("step", ["attach", "route"])
def test_a_failing_submission_does_not_block_the_others(
    monkeypatch, caplog, sms_outbox, django_capture_on_commit_callbacks, step
):
    ArticleFactory(slug=ARTICLE)
    good = _submit(phone="+12025550351")
    bad = _submit(phone="+12025550352", first_name="Zelda")
    also_good = _submit(phone="+12025550353")
    attach = intake_services.submission_attach_batched
    route = routing_batch.submission_route_attached

    def failing_attach(*, batch, submission):
        if submission.pk == bad.pk:
            raise ValueError("Zelda +12025550352")
        return attach(batch=batch, submission=submission)

    def failing_route(*, submission, lead):
        if submission.pk == bad.pk:
            raise ValueError("Zelda +12025550352")
        return route(submission=submission, lead=lead)

    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        if step == "attach":
            patch.setattr(
                routing_batch.intake_services, "submission_attach_batched", failing_attach
            )
        else:
            patch.setattr(routing_batch, "submission_route_attached", failing_route)
        with caplog.at_level(logging.WARNING):
            result = submissions_route_batch(limit=10)

    assert result.failed == {bad.pk}
    assert set(result.routed) == {good.pk, also_good.pk}
    bad.refresh_from_db()
    assert bad.processed_at is None  # left for the sweep
    assert not Callback.objects.filter(submission=bad).exists()
    assert Callback.objects.count() == 2
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert str(bad.pk) in logged
    assert "Zelda" not in logged and "12025550352" not in logged

    # Fixed, the next batch routes it, once: one consent row, one callback, one text.
    with django_capture_on_commit_callbacks(execute=True):
        assert set(submissions_route_batch(limit=10).routed) == {bad.pk}
    assert Consent.objects.filter(submission=bad).count() == 1
    assert Callback.objects.filter(submission=bad).count() == 1
    assert [sms.to for sms in sms_outbox].count("+12025550352") == 1
    assert len(sms_outbox) == 3


def test_a_run_routes_batch_after_batch_until_one_is_not_full(settings):
    settings.ROUTING_BATCH_SIZE = 2
    ArticleFactory(slug=ARTICLE)
    for n in range(5):
        _submit(phone=f"+1202555036{n}")

    run = submissions_route_pending()

    assert (run.routed, run.batches, run.more) == (5, 3, False)
    assert not Submission.objects.filter(processed_at__isnull=True).exists()


def test_a_run_out_of_time_kicks_a_fresh_task(settings, monkeypatch):
    settings.ROUTING_BATCH_SIZE = 2
    ArticleFactory(slug=ARTICLE)
    for n in range(5):
        _submit(phone=f"+1202555037{n}")
    published = []
    monkeypatch.setattr(routing_batch, "enqueue", lambda name: published.append(name) or True)

    run = submissions_route_pending(seconds=0)

    assert (run.routed, run.batches, run.more) == (2, 1, True)
    assert published == [routing_batch.ROUTER_TASK]
    assert Submission.objects.filter(processed_at__isnull=True).count() == 3


def test_the_kick_publishes_once_while_it_is_pending(monkeypatch):
    published = []
    outcomes = iter([True, False, True, True])
    monkeypatch.setattr(
        routing_batch, "enqueue", lambda name: published.append(name) or next(outcomes)
    )
    cache.delete(ROUTING_KICK_KEY)

    assert routing_kick() is True
    assert routing_kick() is False and routing_kick() is False
    assert len(published) == 1

    cache.delete(ROUTING_KICK_KEY)  # the task started
    assert routing_kick() is False  # the broker is down: the kick is not left pending
    assert routing_kick() is True
    assert routing_kick(force=True) is True  # the sweep publishes whatever is pending
    assert len(published) == 4
    cache.delete(ROUTING_KICK_KEY)


def test_the_sweep_kicks_the_router_for_what_waits(monkeypatch, settings):
    settings.SUBMISSION_SWEEP_AFTER = settings.SUBMISSION_SWEEP_AFTER * 0
    ArticleFactory(slug=ARTICLE)
    _submit(phone="+12025550381")
    published = []
    monkeypatch.setattr(routing_batch, "enqueue", lambda name: published.append(name) or True)
    cache.set(ROUTING_KICK_KEY, 1)

    assert submissions_sweep() == 1

    assert published == [routing_batch.ROUTER_TASK]
    cache.delete(ROUTING_KICK_KEY)


def test_a_new_request_is_routed_at_once_in_eager_mode(routed_api_client, sms_outbox):
    ArticleFactory(slug=ARTICLE)
    cache.delete(ROUTING_KICK_KEY)

    response = routed_api_client.post(
        "/api/v1/leads/",
        {"first_name": "Maria", "phone": "+12025550391", "sms_consent": True, "article": ARTICLE},
        format="json",
    )

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert submission.processed_at is not None
    assert Callback.objects.filter(submission=submission).exists()
    assert cache.get(ROUTING_KICK_KEY) is None  # the run cleared its kick


@pytest.mark.django_db(transaction=True)
def test_two_routers_never_route_the_same_submission(sms_outbox, monkeypatch):
    ArticleFactory(slug=ARTICLE)
    with monkeypatch.context() as patch:  # no router runs on commit here
        patch.setattr(routing_batch, "enqueue", lambda name: True)
        ids = {_submit(phone=f"+120255504{n:02d}").pk for n in range(12)}
    held: list[int] = []
    claimed = threading.Event()
    release = threading.Event()

    def first_router():
        try:
            with transaction.atomic():
                held.extend(s.pk for s in intake_services.submissions_claim(limit=4))
                claimed.set()
                release.wait(timeout=30)
                raise RuntimeError("this router dies holding its batch")
        except RuntimeError:
            pass
        finally:
            claimed.set()
            connection.close()

    thread = threading.Thread(target=first_router)
    thread.start()
    assert claimed.wait(timeout=30)
    second = submissions_route_batch(limit=100)
    release.set()
    thread.join(timeout=30)

    assert len(held) == 4
    assert set(second.routed) == ids - set(held)  # skipped what the first one held
    third = submissions_route_batch(limit=100)
    assert set(third.routed) == set(held)  # redone after the first one died
    assert Callback.objects.count() == 12 and Consent.objects.count() == 12
    texts = Counter(sms.to for sms in sms_outbox)
    assert len(texts) == 12 and set(texts.values()) == {1}


def test_a_new_request_is_left_to_its_confirmation_for_a_moment(settings):
    """A batch never holds the row of a request whose confirmation has not claimed it
    yet (its text would wait for the whole batch): it takes it once confirmed, or,
    when the confirmation task was lost, once ROUTING_CONFIRMATION_GRACE has passed."""
    settings.ROUTING_CONFIRMATION_GRACE = timedelta(seconds=3)
    ArticleFactory(slug=ARTICLE)
    waiting = _submit(phone="+12025550331")
    confirmed = _submit(phone="+12025550332")
    spam = _submit(phone="+12025550333", is_spam=True)
    intake_services.submission_confirmation_claim(submission_id=confirmed.pk)

    with transaction.atomic():
        claimed = {submission.pk for submission in intake_services.submissions_claim(limit=10)}
    assert claimed == {confirmed.pk, spam.pk}

    with time_machine.travel(timezone.now() + timedelta(seconds=4)), transaction.atomic():
        claimed = {submission.pk for submission in intake_services.submissions_claim(limit=10)}
    assert waiting.pk in claimed
