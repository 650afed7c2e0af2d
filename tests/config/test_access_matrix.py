"""Every URL pattern, for anonymous users and for each staff role, answers as its
view declares: pages with ``clinic.roles.role_required`` (``allowed_roles``), APIs
with ``permission_classes`` (``HasRole.of(...)``), public endpoints by name in
``PUBLIC`` below. A pattern this test cannot classify fails it, so an endpoint
added without a rule cannot slip in."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import (
    URLPattern,
    URLResolver,
    clear_url_caches,
    get_resolver,
    resolve,
    reverse,
)
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from clinic import roles
from clinic.roles import HasRole
from tests.factories import ArticleFactory, UserFactory
from tests.signin import verified_login

ROLES = (roles.COORDINATOR, roles.SUPERVISOR, roles.MARKETING, roles.ADMIN)

# Public endpoints, by URL name, and why each is safe to leave open.
PUBLIC = {
    "home": "redirects to the article index",
    "healthz": "load balancer probe",
    "readyz": "orchestrator readiness probe (no data in the answer)",
    "login": "staff sign-in",
    "logout": "signing out needs no role",
    "intake:article-index": "public articles",
    "intake:article-detail": "public article with its call to action",
    "intake:article-request": "the call to action without JavaScript",
    "api:lead-submit": "the public intake API (throttled)",
    "api:cta-event": "the CTA's view/click beacon (throttled)",
    "api:cta-config": "the CTA's configuration (throttled)",
    "manage:request": "signed link from the person's own email",
    "manage:appointment": "signed link from the person's own email",
    "manage:booking": "signed link texted to a number the person proved",
    "manage:waitlist-offer": "signed link in a waitlist offer's text to a proven phone",
    "webhooks:twilio-status": "Twilio, signature-checked",
    "webhooks:twilio-inbound": "Twilio, signature-checked",
    "webhooks:twilio-voice": "Twilio, signature-checked",
    "webhooks:twilio-voice-dial": "Twilio, signature-checked",
    "webhooks:call-answer": "Twilio, signature-checked (a bridged call's TwiML)",
    "webhooks:call-connect": "Twilio, signature-checked (a bridged call's TwiML)",
    "webhooks:call-person": "Twilio, signature-checked (a bridged call's TwiML)",
    "webhooks:call-dial-ended": "Twilio, signature-checked (a bridged call's TwiML)",
    "webhooks:call-status": "Twilio, signature-checked (a bridged call's status callbacks)",
    "webhooks:call-recording": "Twilio, signature-checked (a bridged call's recording status)",
    "webhooks:call-browser": "Twilio, signature-checked (the softphone's TwiML App voice URL)",
    "webhooks:call-browser-status": "Twilio, signature-checked (the softphone leg's status)",
    "dev:dev-outbox": "development only (404 elsewhere)",
}
# Public, but refused without a valid X-Twilio-Signature (and POST only).
SIGNATURE_CHECKED = {name for name in PUBLIC if name.startswith("webhooks:")}

# Not public: Prometheus scrapes these with a bearer token (METRICS_TOKEN, answered
# before this matrix's session rules apply); without one, only these roles.
TOKEN_OR_ROLE = {"metrics": (roles.ADMIN,)}

# The only non-public endpoints marketing may reach: aggregates, no personal data.
AGGREGATES_ONLY = {"reports:reports-dashboard", "api:reports-articles"}
# The OpenAPI document and its browser: no data, but a map of the API, so staff only
# (any role) unless API_DOCS_PUBLIC opens them (tests/config/test_api_docs.py).
API_DOCUMENTS = {"schema", "api-docs"}
# Every role's own sign-in pages (second factor, backup codes): no one else's data.
OWN_ACCOUNT = {"signin:verify", "signin:enrol", "signin:backup-codes"}

DUMMY_ID = 987654321
ARTICLE_SLUG = "access-matrix-article"
SAMPLE_KWARGS = {
    "callback_id": DUMMY_ID,
    "appointment_id": DUMMY_ID,
    "alert_id": DUMMY_ID,
    "slug": ARTICLE_SLUG,
    "token": "not-a-valid-signed-token",
    "action": "cancel",
    "reference": "R-2345-6789-ABCD",
    "call_id": DUMMY_ID,
    "recording_id": DUMMY_ID,
    "conversation_id": DUMMY_ID,
    "leg": "coordinator",
    "entry_id": DUMMY_ID,
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    kind: str  # "page", "api" or "admin"
    allowed: tuple[str, ...] | None  # None: public


def _full_name(namespace: str, name: str | None) -> str | None:
    if name is None:
        return None
    return f"{namespace}:{name}" if namespace else name


def _walk(resolver: URLResolver, namespace: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                found.append(("admin", entry))
                continue
            inner = entry.namespace
            found += _walk(entry, f"{namespace}:{inner}".strip(":") if inner else namespace)
        else:
            found.append((_full_name(namespace, entry.name) or "", entry))
    return found


def _declared_drf_roles(view_class: type[APIView]) -> tuple[str, ...] | str | None:
    """Roles from the view's own ``permission_classes``; None when AllowAny; an
    error string when the view relies on the project default."""
    declared = any(
        "permission_classes" in vars(klass)
        for klass in view_class.__mro__
        if klass.__module__.split(".")[0] in ("config", "intake", "scheduling", "notifications")
        or klass.__module__.startswith("drf_spectacular")
    )
    if not declared:
        return "declares no permission_classes (falls back to the project default)"
    allowed: set[str] = set()
    for permission in view_class.permission_classes:
        if permission is AllowAny:
            return None
        if isinstance(permission, type) and issubclass(permission, HasRole):
            allowed |= set(permission.roles)
    if not allowed:
        return "has permission_classes but none of them is HasRole.of(...) or AllowAny"
    return tuple(sorted(allowed))


def _classify(name: str, pattern) -> Endpoint | str:
    if name == "admin":
        return Endpoint("admin", reverse("admin:index"), "admin", (roles.ADMIN,))
    if not name or name.endswith(":None"):
        return f"{pattern.pattern} has no URL name"
    callback = pattern.callback
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    kwargs = {key: SAMPLE_KWARGS[key] for key in pattern.pattern.regex.groupindex}
    missing = set(pattern.pattern.regex.groupindex) - set(SAMPLE_KWARGS)
    if missing:
        return f"{name}: add a sample value for {sorted(missing)} to SAMPLE_KWARGS"
    try:
        path = reverse(name, kwargs=kwargs)
    except Exception as error:
        return f"{name}: cannot build a URL ({error})"
    if resolve(path).url_name != pattern.name:
        return f"{name}: {path} resolves to another view"

    if view_class is not None and issubclass(view_class, APIView):
        allowed = _declared_drf_roles(view_class)
        kind = "api"
    else:
        allowed = getattr(callback, "allowed_roles", None)
        kind = "page"
    if isinstance(allowed, str):
        return f"{name} ({callback.__module__}): {allowed}"
    if name in PUBLIC:
        if allowed is not None:
            return f"{name} is listed in PUBLIC but its view requires roles {allowed}"
        return Endpoint(name, path, kind, None)
    if allowed is None:
        return (
            f"{name} ({callback.__module__}.{getattr(callback, '__name__', '')}) declares no "
            "roles: use role_required(...) / HasRole.of(...), or list it in PUBLIC"
        )
    return Endpoint(name, path, kind, tuple(allowed))


def endpoints() -> tuple[list[Endpoint], list[str]]:
    found, problems = [], []
    for name, pattern in _walk(get_resolver()):
        result = _classify(name, pattern)
        (problems if isinstance(result, str) else found).append(result)
    return found, problems


def test_every_url_pattern_declares_who_may_use_it():
    found, problems = endpoints()
    assert not problems, "\n".join(problems)
    names = {endpoint.name for endpoint in found}
    # The walk really did reach every part of the site.
    assert {"admin", "api:lead-submit", "scheduling:console", "webhooks:twilio-inbound"} <= names


def test_token_endpoints_fall_back_to_their_declared_roles_only():
    found, _ = endpoints()
    declared = {endpoint.name: endpoint.allowed for endpoint in found}
    for name, allowed in TOKEN_OR_ROLE.items():
        assert name not in PUBLIC
        assert declared[name] == allowed, name


def test_marketing_reaches_aggregates_only():
    found, _ = endpoints()
    reachable = {
        endpoint.name
        for endpoint in found
        if endpoint.allowed is not None and roles.MARKETING in endpoint.allowed
    }
    assert reachable <= AGGREGATES_ONLY | OWN_ACCOUNT | API_DOCUMENTS


def test_the_public_allowlist_has_no_stale_names():
    found, _ = endpoints()
    names = {endpoint.name for endpoint in found}
    dev_only = {"dev:dev-outbox"}
    assert set(PUBLIC) - dev_only <= names


def test_the_admin_site_is_for_the_admin_role_only(rf, db):
    staff_coordinator = UserFactory(username="staff-coordinator", is_staff=True)
    staff_coordinator.groups.add(Group.objects.get(name=roles.COORDINATOR))
    request = rf.get("/")
    request.user = staff_coordinator
    assert not admin.site.has_permission(request)


def test_roles_carry_model_permissions(db):
    marketing = Group.objects.get(name=roles.MARKETING)
    codenames = set(marketing.permissions.values_list("codename", flat=True))
    assert "view_article" in codenames
    assert not {code for code in codenames if code.endswith(("_lead", "_submission", "_message"))}
    coordinator = set(
        Group.objects.get(name=roles.COORDINATOR).permissions.values_list("codename", flat=True)
    )
    assert {"view_lead", "change_callback", "add_callattempt"} <= coordinator
    assert "delete_lead" not in coordinator
    admin_codes = set(
        Group.objects.get(name=roles.ADMIN).permissions.values_list("codename", flat=True)
    )
    assert {"change_user", "change_group", "change_article"} <= admin_codes
    assert "change_messagetemplate" in admin_codes


# --- The matrix --------------------------------------------------------------------


def _role_user(role: str | None):
    if role is None:
        return None
    user = UserFactory(username=f"matrix-{role}", is_staff=role == roles.ADMIN)
    user.groups.add(Group.objects.get(name=role))
    return user


def _client(user) -> Client:
    """A fresh client per request: signing out (a POST) must not leak into the next."""
    client = Client()
    if user is not None:
        verified_login(client, user)
    return client


def _answer(client: Client, endpoint: Endpoint):
    """GET, and POST when the endpoint takes POST only (405): a refusal must come
    from the access rule, not from the method."""
    response = client.get(endpoint.path)
    if response.status_code == 405:
        if endpoint.kind == "api":
            response = client.post(endpoint.path, data={}, content_type="application/json")
        else:
            # As a browser posts a page's form: naming the page's origin.
            response = client.post(endpoint.path, data={}, HTTP_ORIGIN="http://testserver")
    return response


def _is_login_redirect(response) -> bool:
    if response.status_code not in (301, 302):
        return False
    target = urlsplit(response["Location"]).path
    return target in (reverse(settings.LOGIN_URL), reverse("admin:login"))


def _outcome(response) -> str:
    if response.status_code >= 500:
        return "error"
    if _is_login_redirect(response):
        return "login"
    if response.status_code in (401, 403):
        return "denied"
    return "allowed"


def _expected(endpoint: Endpoint, role: str | None) -> set[str]:
    if endpoint.allowed is None:
        if endpoint.name in SIGNATURE_CHECKED:
            return {"denied"}  # 403 without a signature; see the status check below
        if endpoint.name == "logout":
            return {"allowed", "login"}  # signing out ends on the sign-in page
        return {"allowed"}
    if role is not None and role in endpoint.allowed:
        return {"allowed"}
    if endpoint.kind == "api":
        return {"denied"}
    if endpoint.kind == "admin" or role is None:
        return {"login"}
    return {"denied"}


@pytest.fixture
def matrix_data(db):
    from config.tasks import worker_heartbeat

    ArticleFactory(slug=ARTICLE_SLUG)
    worker_heartbeat()  # so /readyz is ready (a 503 would read as a server error)


@pytest.mark.parametrize("role", [None, *ROLES], ids=["anonymous", *ROLES])
def test_every_endpoint_answers_each_role_as_declared(role, matrix_data):
    found, problems = endpoints()
    assert not problems, "\n".join(problems)
    user = _role_user(role)
    wrong = []
    for endpoint in found:
        response = _answer(_client(user), endpoint)
        outcome = _outcome(response)
        if outcome not in _expected(endpoint, role):
            wrong.append(
                f"{endpoint.name} {endpoint.path}: {response.status_code} ({outcome}), "
                f"expected {sorted(_expected(endpoint, role))}; allowed={endpoint.allowed}"
            )
        elif endpoint.name in SIGNATURE_CHECKED and response.status_code not in (403, 405):
            wrong.append(f"{endpoint.name}: {response.status_code} without a signature")
    assert not wrong, "\n".join(wrong)


def test_an_endpoint_without_a_rule_is_caught(monkeypatch):
    from django.http import HttpResponse
    from django.urls import path

    import config.urls

    def undeclared(request):
        return HttpResponse("personal data")

    patterns = [*config.urls.urlpatterns, path("leaky/", undeclared, name="leaky")]
    monkeypatch.setattr(config.urls, "urlpatterns", patterns)
    clear_url_caches()
    try:
        _, problems = endpoints()
    finally:
        monkeypatch.undo()
        clear_url_caches()
    assert any(problem.startswith("leaky ") for problem in problems)
