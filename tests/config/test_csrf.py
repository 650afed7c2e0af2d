"""Every unsafe method that any URL pattern accepts from a signed-in member of
staff is refused without a CSRF token, except the documented exemptions: public
endpoints that never use the session, and API tokens (tests/clinic/test_api_tokens.py).
The walk is the access matrix's (tests/config/test_access_matrix.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from clinic import roles
from tests.config.test_access_matrix import endpoints, matrix_data  # noqa: F401
from tests.factories import UserFactory
from tests.signin import verified_login

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# The same 32 characters in the cookie and the header: a valid CSRF token.
CSRF_SECRET = "a" * 16 + "B" * 16

# Endpoints that accept an unsafe method without a CSRF token, and why that is safe.
CSRF_EXEMPT = {
    "intake:article-request": "public CTA form; carries no session (csrf_exempt, throttled)",
    "api:lead-submit": "public intake API; authenticates no one, so no session",
    "api:cta-event": "public beacon; authenticates no one, so no session",
    "webhooks:twilio-status": "Twilio; X-Twilio-Signature, no session",
    "webhooks:twilio-inbound": "Twilio; X-Twilio-Signature, no session",
    "webhooks:twilio-voice": "Twilio; X-Twilio-Signature, no session",
    "webhooks:twilio-voice-dial": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-answer": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-connect": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-person": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-dial-ended": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-status": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-recording": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-browser": "Twilio; X-Twilio-Signature, no session",
    "webhooks:call-browser-status": "Twilio; X-Twilio-Signature, no session",
}


def _send(client: Client, method: str, path: str, **extra):
    return client.generic(method, path, data="{}", content_type="application/json", **extra)


@pytest.fixture
def signed_in(matrix_data):  # noqa: F811
    """A fresh OTP-verified client for a role, enforcing CSRF like a browser
    (fresh each time: a request that signs out must not leak into the next)."""
    users = {}
    for role in roles.ALL:
        users[role] = UserFactory(username=f"csrf-{role}", is_staff=role == roles.ADMIN)
        users[role].groups.add(Group.objects.get(name=role))

    def client_for(role: str) -> Client:
        client = Client(enforce_csrf_checks=True)
        verified_login(client, users[role])
        return client

    return client_for


def walk(signed_in) -> tuple[set, set, list[str]]:
    """(endpoint, method) pairs refused for want of a CSRF token, endpoints found
    exempt, and what is wrong."""
    found, problems = endpoints()
    assert not problems, "\n".join(problems)
    refused, exempt, wrong = set(), set(), []
    for endpoint in found:
        role = endpoint.allowed[0] if endpoint.allowed else roles.ADMIN
        for method in UNSAFE:
            response = _send(signed_in(role), method, endpoint.path)
            if response.status_code == 405:
                continue
            if endpoint.name in CSRF_EXEMPT:
                # Accepted, or refused by its own rule (a Twilio signature), never
                # by the CSRF check.
                if b"CSRF" not in response.content:
                    exempt.add(endpoint.name)
                continue
            if response.status_code != 403:
                wrong.append(
                    f"{method} {endpoint.path} ({endpoint.name}): {response.status_code} "
                    "without a CSRF token"
                )
                continue
            # The same request with a token is not refused: the 403 above was
            # the CSRF check, not the role or the method.
            client = signed_in(role)
            client.cookies["csrftoken"] = CSRF_SECRET
            retried = _send(client, method, endpoint.path, HTTP_X_CSRFTOKEN=CSRF_SECRET)
            if retried.status_code == 403:
                wrong.append(f"{method} {endpoint.path}: 403 with a CSRF token too")
            else:
                refused.add((endpoint.name, method))
    return refused, exempt, wrong


def test_every_unsafe_method_needs_a_csrf_token(signed_in):
    refused, exempt, wrong = walk(signed_in)
    assert not wrong, "\n".join(wrong)
    assert exempt == set(CSRF_EXEMPT), "stale or missing CSRF_EXEMPT entries"
    # The walk reached the places that matter.
    assert {
        ("login", "POST"),
        ("logout", "POST"),
        ("scheduling:console-claim-next", "POST"),
        ("api:callback-claim-next", "POST"),
        ("api:me-phone", "PUT"),
        ("api:me-phone-verify", "POST"),
        ("api:me-availability", "PUT"),
        ("scheduling:console-profile-phone", "POST"),
        ("signin:verify", "POST"),
        ("signin:backup-codes", "POST"),
        ("admin", "POST"),
    } <= refused


def test_the_refusal_names_csrf(signed_in):
    """Pages answer with Django's CSRF failure, the API in the one error shape."""
    page = _send(signed_in(roles.COORDINATOR), "POST", "/console/next/")
    assert page.status_code == 403 and b"CSRF verification failed" in page.content
    api = _send(signed_in(roles.COORDINATOR), "POST", "/api/v1/callbacks/claim-next/")
    assert api.status_code == 403
    assert api.json() == {
        "code": "permission_denied",
        "message": "CSRF Failed: CSRF cookie not set.",
    }


def test_a_csrf_exempt_staff_view_is_caught(signed_in, monkeypatch):
    from django.http import HttpResponse
    from django.urls import clear_url_caches, path
    from django.views.decorators.csrf import csrf_exempt

    import config.urls
    from clinic.roles import role_required

    @csrf_exempt
    @role_required(roles.COORDINATOR)
    def forgeable(request):
        return HttpResponse("done")

    patterns = [*config.urls.urlpatterns, path("forgeable/", forgeable, name="forgeable")]
    monkeypatch.setattr(config.urls, "urlpatterns", patterns)
    clear_url_caches()
    try:
        _, _, wrong = walk(signed_in)
    finally:
        monkeypatch.undo()
        clear_url_caches()
    assert "POST /forgeable/ (forgeable): 200 without a CSRF token" in wrong
