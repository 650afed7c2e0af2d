from __future__ import annotations

import pytest

from scheduling.models import Callback
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(route):
    return [route(submit_lead()) for _ in range(5)]


def test_the_queue_is_for_coordinators_only(api_client, marketer, queue):
    assert api_client.get("/api/v1/callbacks/").status_code == 403
    api_client.force_authenticate(marketer)
    assert api_client.get("/api/v1/callbacks/").status_code == 403


def test_the_queue_pages_by_keyset_in_queue_order(api_client, coordinator, queue, monkeypatch):
    from scheduling.apis import callbacks as apis

    monkeypatch.setattr(apis, "PAGE_SIZE", 2)
    Callback.objects.filter(pk=queue[3].pk).update(is_urgent=True)
    api_client.force_authenticate(coordinator)

    seen = []
    cursor = ""
    for _ in range(5):
        response = api_client.get("/api/v1/callbacks/", {"cursor": cursor} if cursor else {})
        assert response.status_code == 200
        body = response.json()
        seen += [row["id"] for row in body["results"]]
        cursor = body["next_cursor"]
        if not cursor:
            break

    assert seen[0] == queue[3].pk
    assert sorted(seen) == sorted(c.pk for c in queue)
    assert len(seen) == len(set(seen)) == 5
    assert body["counts"]["urgent"] == 1


def test_a_bad_cursor_is_a_400(api_client, coordinator):
    api_client.force_authenticate(coordinator)
    response = api_client.get("/api/v1/callbacks/", {"cursor": "!!!"})
    assert response.status_code == 400
    assert "cursor" in response.json()["fields"]


def test_claim_next_release_and_log_an_attempt(api_client, coordinator, queue):
    api_client.force_authenticate(coordinator)

    claimed = api_client.post("/api/v1/callbacks/claim-next/")
    assert claimed.status_code == 200
    callback_id = claimed.json()["id"]
    assert claimed.json()["status"] == "claimed"

    assert api_client.post(f"/api/v1/callbacks/{callback_id}/release/").status_code == 204
    assert api_client.post(f"/api/v1/callbacks/{callback_id}/release/").status_code == 409

    again = api_client.post("/api/v1/callbacks/claim-next/").json()["id"]
    response = api_client.post(
        f"/api/v1/callbacks/{again}/attempts/", {"outcome": "reached", "notes": "ok"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["outcome"] == "reached"
    attempts = api_client.get(f"/api/v1/callbacks/{again}/attempts/").json()
    assert [a["outcome"] for a in attempts] == ["reached"]


def test_an_unknown_outcome_is_a_field_error(api_client, coordinator, queue):
    api_client.force_authenticate(coordinator)
    callback_id = api_client.post("/api/v1/callbacks/claim-next/").json()["id"]
    response = api_client.post(
        f"/api/v1/callbacks/{callback_id}/attempts/", {"outcome": "hung up"}, format="json"
    )
    assert response.status_code == 400
    assert "outcome" in response.json()["fields"]


def test_an_empty_queue_answers_204(api_client, coordinator):
    api_client.force_authenticate(coordinator)
    assert api_client.post("/api/v1/callbacks/claim-next/").status_code == 204


def test_the_page_and_claim_next_answer_as_the_documented_serializer_would(
    api_client, coordinator, supervisor, route
):
    """The queue's rows are written out by hand (callback_out) for speed: field for
    field what CallbackOutputSerializer, the schema's, gives for the same callbacks."""
    from datetime import timedelta

    from django.utils import timezone

    from scheduling import selectors
    from scheduling.apis.callbacks import CallbackOutputSerializer

    plain, no_article, held, retried = (
        route(submit_lead(first_name="Ada")),
        route(submit_lead(first_name="Bo", article_slug="")),
        route(submit_lead(first_name="Cy")),
        route(submit_lead(first_name="Di")),
    )
    now = timezone.now()
    Callback.objects.filter(pk=plain.pk).update(is_urgent=True, due_at=now - timedelta(hours=1))
    Callback.objects.filter(pk=held.pk).update(
        status=Callback.Status.CLAIMED,
        claimed_by=supervisor,
        claimed_at=now,
        lease_expires_at=now + timedelta(minutes=20),
        patient_replied=True,
    )
    Callback.objects.filter(pk=retried.pk).update(
        retry_at=now + timedelta(hours=2), unanswered_attempts=2
    )
    api_client.force_authenticate(coordinator)

    rows = api_client.get("/api/v1/callbacks/").json()["results"]
    expected = CallbackOutputSerializer(selectors.callback_queue(), many=True).data
    claimed = api_client.post("/api/v1/callbacks/claim-next/").json()

    assert rows == [dict(row) for row in expected]
    by_id = {row["id"]: row for row in rows}
    assert by_id[no_article.pk]["article"] is None
    assert by_id[plain.pk]["article"] is not None
    assert by_id[held.pk]["claimed_by"] == supervisor.username
    assert by_id[held.pk]["lease_expires_at"].endswith("Z")
    assert by_id[plain.pk]["overdue"] is True
    assert by_id[retried.pk]["retry_at"] is not None
    assert claimed == dict(
        CallbackOutputSerializer(selectors.callback_queue().get(pk=claimed["id"])).data
    )
