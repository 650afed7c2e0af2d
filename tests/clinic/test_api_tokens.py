"""API tokens for integrations (django-rest-knox): made by an admin, hashed at
rest, acting with their user's roles, revocable, expiring; no CSRF, no second
factor, no idle timeout."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from clinic import roles
from tests.clinic.test_signin import staff
from tests.signin import verified_login

CALLBACKS = "/api/v1/callbacks/"


def api_token(*args: str) -> str:
    out = io.StringIO()
    call_command("api_token", *args, stdout=out)
    return out.getvalue()


def created_secret(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.fixture
def crm(db):
    """An integration's service account, in the coordinator role."""
    return staff("crm-integration", roles.COORDINATOR)


def test_a_token_acts_as_its_user_and_is_stored_hashed(crm, settings):
    output = api_token("create", "crm-integration")
    secret = created_secret(output)
    assert secret.startswith("clinic_")
    token = AuthToken.objects.get(user=crm)
    assert secret not in {token.digest, token.token_key}
    assert token.digest != secret and len(token.digest) == 128
    assert token.expiry - timezone.now() > timedelta(days=settings.API_TOKEN_TTL_DAYS - 1)

    client = Client(enforce_csrf_checks=True)
    assert client.get(CALLBACKS).status_code == 403
    response = client.get(CALLBACKS, HTTP_AUTHORIZATION=f"Token {secret}")
    assert response.status_code == 200


def test_a_token_has_its_users_roles_only(marketer):
    secret = created_secret(api_token("create", marketer.username))
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Token {secret}"}
    assert client.get(CALLBACKS, **auth).status_code == 403
    assert client.get("/api/v1/reports/articles/", **auth).status_code == 200


def test_token_writes_need_no_csrf_token_and_no_second_factor(crm, route):
    from tests.factories import submit_lead

    callback = route(submit_lead())
    secret = created_secret(api_token("create", "crm-integration"))
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/callbacks/claim-next/",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {secret}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == callback.pk


def test_a_token_is_not_timed_out_by_idleness(crm):
    secret = created_secret(api_token("create", "crm-integration", "--days", "30"))
    client = Client()
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        assert client.get(CALLBACKS, HTTP_AUTHORIZATION=f"Token {secret}").status_code == 200


def test_an_expired_token_is_refused(crm):
    secret = created_secret(api_token("create", "crm-integration", "--days", "1"))
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1), tick=False):
        response = Client().get(CALLBACKS, HTTP_AUTHORIZATION=f"Token {secret}")
    assert response.status_code == 403
    assert response.json() == {"code": "authentication_failed", "message": "Invalid token."}
    assert not AuthToken.objects.exists()


def test_list_shows_keys_and_revoke_ends_a_token(crm):
    first = created_secret(api_token("create", "crm-integration"))
    second = created_secret(api_token("create", "crm-integration"))
    listing = api_token("list")
    assert first[:15] in listing and second[:15] in listing
    assert first not in listing and second not in listing

    assert "revoked 1 token(s)" in api_token("revoke", first[:15])
    client = Client()
    assert client.get(CALLBACKS, HTTP_AUTHORIZATION=f"Token {first}").status_code == 403
    assert client.get(CALLBACKS, HTTP_AUTHORIZATION=f"Token {second}").status_code == 200
    with pytest.raises(CommandError, match="No token with key"):
        api_token("revoke", first[:15])


def test_the_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        api_token("create", "nobody")


def test_an_admin_makes_a_token_and_sees_the_secret_once(crm):
    admin_client = Client()
    verified_login(admin_client, staff("alex", roles.ADMIN, is_staff=True))
    add = reverse("admin:knox_authtoken_add")
    assert admin_client.get(add).status_code == 200
    response = admin_client.post(add, {"user": crm.pk, "ttl_days": "7"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    secret = re.search(r"Token for crm-integration: (clinic_\w+)", page).group(1)
    token = AuthToken.objects.get(user=crm)
    assert timedelta(days=6) < token.expiry - timezone.now() <= timedelta(days=7)
    # Not shown again.
    changelist = admin_client.get(reverse("admin:knox_authtoken_changelist")).content.decode()
    assert token.token_key in changelist and secret not in changelist
    assert Client().get(CALLBACKS, HTTP_AUTHORIZATION=f"Token {secret}").status_code == 200

    # Deleting it in the admin revokes it.
    admin_client.post(reverse("admin:knox_authtoken_delete", args=[token.pk]), {"post": "yes"})
    assert Client().get(CALLBACKS, HTTP_AUTHORIZATION=f"Token {secret}").status_code == 403


def test_the_openapi_schema_shows_both_ways_to_authenticate(client, settings):
    settings.API_DOCS_PUBLIC = True
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["cookieAuth"] == {"type": "apiKey", "in": "cookie", "name": "sessionid"}
    token_schemes = [s for s in schemes.values() if s.get("in") == "header"]
    assert token_schemes and token_schemes[0]["name"] == "Authorization"
    operation = schema["paths"]["/api/v1/callbacks/"]["get"]
    assert {name for entry in operation["security"] for name in entry} == set(schemes)
