"""The OpenAPI document and its browser are for staff (issue 20, item 8): a stranger
does not get a map of every endpoint and its rules, unless API_DOCS_PUBLIC says so."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.config.test_settings import PRODUCTION_ENV, SETUP, run_python
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

DOCS = ("/api/schema/", "/api/docs/")


def test_a_stranger_gets_no_map_of_the_api(client, settings):
    settings.API_DOCS_PUBLIC = False
    for path in DOCS:
        assert client.get(path).status_code == 403, path


def test_a_signed_in_member_of_staff_reads_the_api_documents(marketer, settings):
    settings.API_DOCS_PUBLIC = False
    client = Client()
    verified_login(client, marketer)
    schema = client.get(DOCS[0], HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert schema.status_code == 200
    assert "/api/v1/leads/" in schema.json()["paths"]
    assert client.get(DOCS[1]).status_code == 200


def test_api_docs_public_opens_them_to_everyone(client, settings):
    settings.API_DOCS_PUBLIC = True
    for path in DOCS:
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("environment", "public"),
    [({**PRODUCTION_ENV}, "False"), ({"DJANGO_ENV": "development"}, "True")],
    ids=["production", "development"],
)
def test_the_api_docs_are_closed_in_production_and_open_in_development(environment, public):
    result = run_python(
        SETUP + "; from django.conf import settings; print(settings.API_DOCS_PUBLIC)",
        environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == public
