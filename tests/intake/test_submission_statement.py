"""The public POST's write outside any transaction: the submission and its
Idempotency-Key in one statement (intake.services.submissions), on real PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import IntegrityError, connection
from phonenumber_field.phonenumber import PhoneNumber

from clinic.errors import ApplicationError
from intake.models import IdempotencyKey, Submission
from intake.services import submission_build, submission_store
from intake.signals import submission_received
from tests.factories import ArticleFactory

# Not inside a test transaction: the one-statement path runs only in autocommit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement write is PostgreSQL's (a data-modifying CTE)")


def build(key: str = "", **fields):
    return submission_build(
        first_name="Maria",
        phone=PhoneNumber.from_string("+12025550143"),
        email="maria@example.org",
        message="Call me after five.",
        article_slug="science-behind-antidepressants",
        idempotency_key=key,
        request_sha256="a" * 64 if key else "",
        **fields,
    )


def test_it_stores_the_submission_and_its_key_in_one_statement():
    ArticleFactory(slug="science-behind-antidepressants")
    request = build(key="key-1")
    statements: list[str] = []
    with connection.execute_wrapper(
        lambda execute, sql, params, many, context: (
            statements.append(sql) or execute(sql, params, many, context)
        )
    ):
        outcome = submission_store(request=request)

    # The first statement stores both rows; what follows is the (eager) routing.
    assert statements[0].startswith('WITH stored AS (INSERT INTO "intake_submission"')
    assert not any(sql.startswith('INSERT INTO "intake_idempotencykey"') for sql in statements)
    stored = Submission.objects.get(pk=outcome.submission.pk)
    assert stored.reference == outcome.submission.reference
    assert stored.message == "Call me after five."  # encrypted and read back
    assert str(stored.phone) == "+12025550143"
    assert stored.article.slug == "science-behind-antidepressants"
    assert stored.created_at == outcome.submission.created_at
    key = IdempotencyKey.objects.get(key="key-1")
    assert key.submission_id == stored.pk
    assert key.request_sha256 == "a" * 64
    assert outcome.submission._state.adding is False


def test_without_a_key_it_stores_the_submission_alone():
    outcome = submission_store(request=build())

    assert Submission.objects.filter(pk=outcome.submission.pk).exists()
    assert not IdempotencyKey.objects.exists()


def test_a_key_already_taken_stores_no_second_submission():
    first = submission_store(request=build(key="key-2"))
    request = build(key="key-2")

    replay = submission_store(request=request)

    # The statement failed on the key as a whole: the second submission was not kept.
    assert replay.replayed is True
    assert replay.submission.pk == first.submission.pk
    assert Submission.objects.count() == 1


def test_a_key_taken_with_another_body_is_refused_and_stores_nothing():
    submission_store(request=build(key="key-3"))
    request = dataclasses.replace(build(key="key-3"), request_sha256="b" * 64)

    with pytest.raises(ApplicationError) as raised:
        submission_store(request=request)

    assert raised.value.status_code == 422
    assert Submission.objects.count() == 1


def test_the_hand_off_is_announced_once_the_statement_is_committed():
    received: list[int] = []

    def record(sender, *, submission_id, **kwargs):
        # Committed: another connection's view would find it; here the row is there.
        assert Submission.objects.filter(pk=submission_id).exists()
        received.append(submission_id)

    submission_received.connect(record, dispatch_uid="test-statement-hand-off")
    try:
        outcome = submission_store(request=build(key="key-4"))
    finally:
        submission_received.disconnect(dispatch_uid="test-statement-hand-off")

    assert received == [outcome.submission.pk]


def test_a_duplicate_reference_raises_without_a_key():
    first = submission_store(request=build())
    request = build()
    request.submission.reference = first.submission.reference

    with pytest.raises(IntegrityError):
        submission_store(request=request)
    assert Submission.objects.count() == 1
