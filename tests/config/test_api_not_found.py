"""Under /api/ every answer that is not a success is the one JSON error shape
(clinic.errors), a path that names nothing included; the site keeps its HTML 404 page."""

from __future__ import annotations

import json

import pytest

from config.views import server_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/api/v2/leads/", "/api/v1/nothing-here/", "/api/v1/callbacks/-1/release/", "/api/"],
)
def test_an_unknown_path_under_the_api_answers_the_error_shape(client, path):
    response = client.post(path, {}, content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "message": "Not found."}


def test_an_unknown_page_keeps_the_sites_html_404(client):
    response = client.get("/articles/no/such/page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Page not found" in response.content.decode()


def test_a_method_the_api_does_not_take_answers_the_error_shape(client):
    response = client.delete("/api/v1/leads/")

    assert response.status_code == 405
    assert response.json() == {
        "code": "method_not_allowed",
        "message": 'Method "DELETE" not allowed.',
    }


def test_a_server_error_under_the_api_answers_the_error_shape(rf):
    response = server_error(rf.get("/api/v1/leads/"))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"code": "error", "message": "Something went wrong."}
