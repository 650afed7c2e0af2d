from __future__ import annotations

import pytest

from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


def test_the_care_team_reads_the_person_behind_a_reference(api_client, coordinator):
    first = submit_lead(first_name="Maria", phone="+12025550190", message="Evenings please")
    second = submit_lead(first_name="Maria", phone="+12025550190", utm={"utm_source": "fb"})
    api_client.force_authenticate(coordinator)

    response = api_client.get(f"/api/v1/leads/{second.reference}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == first.lead_id
    assert body["first_name"] == "Maria"
    assert body["phone"] == "+12025550190"
    assert body["stage"] == "new"
    assert [s["reference"] for s in body["submissions"]] == [second.reference, first.reference]
    assert body["submissions"][1]["message"] == "Evenings please"
    assert body["submissions"][0]["utm_source"] == "fb"
    assert {c["scope"] for c in body["consents"]} == {"sms"}


def test_a_reference_is_read_in_any_case(api_client, supervisor):
    submission = submit_lead()
    api_client.force_authenticate(supervisor)
    assert api_client.get(f"/api/v1/leads/{submission.reference.lower()}/").status_code == 200


def test_an_unknown_reference_is_404_in_the_error_shape(api_client, coordinator):
    api_client.force_authenticate(coordinator)
    response = api_client.get("/api/v1/leads/R-2345-6789-ABCD/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_marketing_and_strangers_never_see_a_lead(api_client, marketer):
    submission = submit_lead()
    assert api_client.get(f"/api/v1/leads/{submission.reference}/").status_code == 403
    api_client.force_authenticate(marketer)
    response = api_client.get(f"/api/v1/leads/{submission.reference}/")
    assert response.status_code == 403
    assert "Maria" not in response.content.decode()
