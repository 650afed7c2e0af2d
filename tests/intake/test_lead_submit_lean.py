"""The lean parts of the public POST (issue 24): input serializers whose fields are
bound once per class, and the 201 answer built without the output serializer. Both
must answer exactly as DRF's own per-request serializers would."""

from __future__ import annotations

import threading

import pytest
from rest_framework import serializers

from intake.apis import OnceBoundSerializer
from intake.apis.leads import (
    LeadSubmitInputSerializer,
    LeadSubmitOutputSerializer,
    lead_submit_answer,
    submission_next_contact,
)
from intake.crisis import crisis_resources
from intake.services import lead_submit
from tests.factories import ArticleFactory


class FreshInputSerializer(LeadSubmitInputSerializer):
    """The same declared fields, deep-copied per instance as DRF does by default."""

    fields = serializers.Serializer.fields


BODIES = [
    {"first_name": "Maria", "phone": "(202) 555-0143", "sms_consent": True},
    {"first_name": "", "phone": "not a number", "email": "nope"},
    {"first_name": "x" * 101, "preferred_channel": "pigeon", "best_time": 3},
    {"first_name": "Ana", "email": "ana@example.org", "contact_preferences": "yes"},
    {"first_name": "Ana", "email": "ana@example.org", "contact_preferences": {"voicemail_ok": 2}},
    {"first_name": "Ana", "email": "a@example.org", "first_touch": {"at": "soon", "utm_term": 5}},
    {"first_name": "Ana", "email": "a@example.org", "timezone": "Mars/Olympus", "interest": "x"},
    {"first_name": "Ana http://evil.example", "phone": "+19005550100"},
    {"phone": "", "email": ""},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("body", BODIES)
def test_once_bound_fields_give_drf_s_own_answers(body):
    once, fresh = LeadSubmitInputSerializer(data=body), FreshInputSerializer(data=body)

    assert once.is_valid() == fresh.is_valid()
    assert once.errors == fresh.errors
    if once.is_valid():
        assert dict(once.validated_data) == dict(fresh.validated_data)


def test_fields_are_bound_once_per_class_and_shared():
    first, second = LeadSubmitInputSerializer(data={}), LeadSubmitInputSerializer(data={})

    assert first.fields is second.fields
    assert first.fields["first_name"] is second.fields["first_name"]


def test_one_request_s_body_never_leaks_into_another_s_across_threads():
    results: dict[int, str] = {}

    def validate(number: int) -> None:
        for _ in range(50):
            serializer = LeadSubmitInputSerializer(
                data={"first_name": f"Name{'a' * number}", "email": f"r{number}@example.org"}
            )
            assert serializer.is_valid(), serializer.errors
            results[number] = serializer.validated_data["email"]
            assert serializer.validated_data["first_name"] == f"Name{'a' * number}"

    threads = [threading.Thread(target=validate, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {n: f"r{n}@example.org" for n in range(8)}


def test_a_subclass_gets_its_own_fields():
    class Small(OnceBoundSerializer):
        name = serializers.CharField()

    class Larger(Small):
        age = serializers.IntegerField()

    assert set(Small(data={}).fields) == {"name"}
    assert set(Larger(data={}).fields) == {"name", "age"}


@pytest.mark.django_db
@pytest.mark.parametrize("message", ["Please call me", "I want to kill myself tonight"])
def test_the_answer_is_what_the_output_serializer_gives(message):
    ArticleFactory(slug="science-behind-antidepressants")
    outcome = lead_submit(
        first_name="Maria", email="maria@example.org", message=message, in_crisis=False
    )
    submission = outcome.submission

    answer = lead_submit_answer(outcome)

    expected = {
        "reference": submission.reference,
        "status": "received",
        "callback_window": submission.callback_window,
        "next_contact": submission_next_contact(submission),
    }
    if submission.is_crisis:
        expected["crisis_resources"] = crisis_resources()
    assert answer == LeadSubmitOutputSerializer(expected).data
    assert list(answer) == list(LeadSubmitOutputSerializer(expected).data)
    assert ("crisis_resources" in answer) is submission.is_crisis
