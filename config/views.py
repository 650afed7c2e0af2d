"""Probes for load balancers and orchestrators."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from clinic.errors import error_body
from clinic.proxies import client_address
from clinic.roles import ADMIN, ALL, has_role, role_required
from config.health import readiness_checks
from config.metrics import metrics_response


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. Touches nothing else, so it never flaps."""
    return JsonResponse({"status": "ok"})


class ReadyzIpThrottle(SimpleRateThrottle):
    """/readyz calls without the metrics token, per client address (behind
    TRUSTED_PROXIES): the checks open a database and a broker connection each time. The rate is
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["readyz_ip"]`` (READYZ_THROTTLE_PER_IP),
    read per request; the key holds a keyed hash, never the address."""

    scope = "readyz_ip"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or None  # empty: off

    def get_ident(self, request: Any) -> str:
        return client_address(request) or ""

    def get_cache_key(self, request: Any, view: Any) -> str:
        ident = self.get_ident(request)
        digest = hmac.new(settings.SECRET_KEY.encode(), ident.encode(), hashlib.sha256)
        return self.cache_format % {"scope": self.scope, "ident": digest.hexdigest()[:32]}


def _sees_readiness_details(request: HttpRequest) -> bool:
    """Signed-in staff (any role). ``HealthCheckMiddleware`` answers /readyz without a
    session cookie before sessions are read, so those callers have no ``user``."""
    user = getattr(request, "user", None)
    return user is not None and (has_role(user, *ALL) or (user.is_active and user.is_staff))


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and is fully migrated, the broker
    takes connections, and a worker ran the heartbeat task recently. 503 with
    Retry-After otherwise.

    Which check failed and why (no secrets, no data) goes only to the metrics token
    and signed-in staff; anyone else gets the status alone, and is throttled per
    client address (429 with Retry-After past ``readyz_ip``)."""
    with_token = metrics_token_valid(request)
    if not with_token:
        throttle = ReadyzIpThrottle()
        if not throttle.allow_request(request, None):
            response = JsonResponse(
                error_body("throttled", "Too many readiness checks. Try again later."),
                status=429,
            )
            response["Retry-After"] = str(max(1, round(throttle.wait() or 1)))
            return response
    checks: dict[str, Any] = {
        name: {"ok": ok, "detail": detail} for name, (ok, detail) in readiness_checks().items()
    }
    ready = all(check["ok"] for check in checks.values())
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable"}
    if with_token or _sees_readiness_details(request):
        body["checks"] = checks
    response = JsonResponse(body)
    if not ready:
        response.status_code = 503
        response["Retry-After"] = str(settings.READYZ_RETRY_AFTER_SECONDS)
    return response


def metrics_token_valid(request: HttpRequest) -> bool:
    """True when the request carries ``Authorization: Bearer <METRICS_TOKEN>``."""
    token = settings.METRICS_TOKEN
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(offered.strip().encode(), token.encode())
    )


def metrics_with_token(request: HttpRequest) -> HttpResponse:
    """Prometheus with the bearer token (answered by ``HealthCheckMiddleware``, before
    host checks and HTTPS redirects, so a scraper may use the container's address)."""
    if not metrics_token_valid(request):
        response = JsonResponse(
            {"code": "not_authenticated", "message": "Invalid metrics token."},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return metrics_response()


@never_cache
@require_GET
@role_required(ADMIN)
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition, for a signed-in admin (scrapers use the token)."""
    return metrics_response()


def _under_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Under /api/ a path that names nothing answers the one error shape, as DRF's own
    404s do (a client parses JSON, not a page); elsewhere the styled 404 page."""
    if _under_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page, styled and with the signed-in user's navigation (Django's own
    handler renders it without the request). When even that fails, plain words.
    Under /api/ the one error shape instead of a page."""
    if _under_api(request):
        return JsonResponse(error_body("error", "Something went wrong."), status=500)
    try:
        return render(request, "500.html", status=500)
    except Exception:
        return HttpResponseServerError(
            "<!doctype html><title>Server error</title><h1>Something went wrong</h1>"
        )
