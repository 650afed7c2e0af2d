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
