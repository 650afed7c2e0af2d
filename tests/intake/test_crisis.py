from __future__ import annotations

import pytest

from intake.crisis import crisis_language_in
from intake.models import Submission
from scheduling.models import Callback
from tests.factories import submit_lead

URL = "/api/v1/leads/"


@pytest.mark.parametrize(
    "message",
    [
        "Sometimes I want to kill myself",
        "I WANT TO DIE.",
        "i dont want to live anymore",
        "I don\u2019t want to be alive",  # typographic apostrophe
        "I've been thinking about suicide",
        "I'm suicidal",
        "I keep cutting myself",
        "Thoughts of self-harm",
        "everyone would be better off without me",
        "quiero morirme",
        "Quiero morir",
        "Me quiero matar",
        "Estaría mejor muerta",
        "ya no quiero vivir así",
        "pienso en quitarme la vida",
        "tengo pensamientos suicidas",
        "I took an overdose last night",
    ],
)
def test_crisis_language_is_recognised(message):
    assert crisis_language_in(message) is True


@pytest.mark.parametrize(
    "message",
    [
        "I'm killing it at work but still feel low",
        "This traffic is killing me",
        "I'm dying to get started",
        "Do antidepressants raise suicide risk in teenagers?",
        "My grandmother died last year",
        "I need to cut back on coffee",
        "Mi esposo se quiere morir de risa con sus chistes",  # "morir de risa": laughing
        "Voy a cortarme el pelo antes de la cita",
        "I would die for a good night's sleep",
        "overdue bills stress me out",
        "",
    ],
)
def test_everyday_phrases_are_not_crisis_language(message):
    assert crisis_language_in(message) is False


def test_a_phrase_inside_a_longer_word_does_not_match():
    assert crisis_language_in("unsuicidally") is False
    assert crisis_language_in("overdue") is False
    assert crisis_language_in("I like to diet") is False


def test_words_of_two_sentences_do_not_make_a_phrase():
    assert crisis_language_in("I see no point in waiting. Living here is fine.") is False
    assert crisis_language_in("I see no point in waiting living here") is True


def _post(api_client, **fields):
    body = {"first_name": "Maria", "phone": "+12025550143", "article": "an-article"}
    body.update(fields)
    return api_client.post(URL, body, format="json")


@pytest.mark.django_db
def test_the_crisis_box_adds_crisis_resources_to_the_answer(api_client):
    response = _post(api_client, in_crisis=True)

    assert response.status_code == 201
    body = response.json()
    resources = body["crisis_resources"]
    assert {(r["phone"], r["sms"]) for r in resources} == {("988", "988"), ("911", "")}
    assert set(body) == {
        "reference",
        "status",
        "callback_window",
        "next_contact",
        "crisis_resources",
    }
    assert body["status"] == "received"
    assert Submission.objects.get().in_crisis is True
    # The call comes at once, open or closed: the promise says so.
    window = body["callback_window"]
    assert window["starts_at"] == window["ends_at"]


@pytest.mark.django_db
def test_crisis_language_in_the_message_adds_crisis_resources(api_client):
    response = _post(api_client, message="Quiero morirme, necesito ayuda")

    assert "crisis_resources" in response.json()
    submission = Submission.objects.get()
    assert (submission.in_crisis, submission.crisis_language) == (False, True)


@pytest.mark.django_db
def test_crisis_language_typed_into_a_name_box_counts_too(api_client):
    response = _post(api_client, first_name="please help i want to die", message="")

    assert "crisis_resources" in response.json()
    assert Submission.objects.get().crisis_language is True


@pytest.mark.django_db
def test_an_ordinary_request_gets_no_crisis_resources(api_client):
    response = _post(api_client, message="I'm killing it at work but can't sleep")

    assert set(response.json()) == {"reference", "status", "callback_window", "next_contact"}


@pytest.mark.django_db
def test_a_replayed_crisis_answer_still_carries_the_resources(api_client):
    body = {"first_name": "Maria", "phone": "+12025550143", "in_crisis": True}
    first = api_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    again = api_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert again.json() == first.json()
    assert "crisis_resources" in again.json()
    assert Submission.objects.count() == 1


@pytest.mark.django_db
def test_a_crisis_submission_gets_an_urgent_callback(route):
    calm = submit_lead()
    crisis = submit_lead(in_crisis=True)

    assert route(calm).is_urgent is False
    assert route(crisis).is_urgent is True
    queue = list(Callback.objects.order_by("-is_urgent", "original_due_at"))
    assert queue[0].lead_id == crisis.lead_id


@pytest.mark.django_db
def test_a_later_crisis_submission_makes_the_live_callback_urgent(route):
    first = submit_lead(phone="+12025550155", email="p@example.org")
    callback = route(first)
    assert callback.is_urgent is False

    later = submit_lead(phone="+12025550155", email="p@example.org", message="I want to die")
    route(later)

    callback.refresh_from_db()
    assert callback.is_urgent is True
    assert Callback.objects.filter(lead_id=first.lead_id).count() == 1
