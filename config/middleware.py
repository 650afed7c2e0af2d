"""Middleware that must run before anything else."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from clinic.errors import error_body
from config import views

logger = structlog.get_logger("config.request")

# A caller's id is kept only if it looks like an id: it ends up in every log line.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestIdMiddleware:
    """Give every request an id, from ``X-Request-ID`` or a new one; put it in the
    log context (and so into the Celery tasks this request publishes: see
    ``config.celery``) and send it back in the response's ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            # The route, not the path: paths carry signed tokens and ids.
            logger.info(
                "request.finished",
                method=request.method,
                route=match.route if match else None,
                view=match.view_name if match else None,
                status=response.status_code,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            response["X-Request-ID"] = request_id
            return response
        finally:
            structlog.contextvars.clear_contextvars()


class HealthCheckMiddleware:
    """Answer ``/healthz`` and ``/readyz`` before host validation and HTTPS redirects, so a load
    balancer probing a container by IP address gets 200 instead of 400 or 301. ``/metrics``
    with a bearer token is answered here too, for Prometheus scraping each container; without
    one it goes the normal way (an admin's session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            if request.path_info == "/healthz":
                return views.healthz(request)
            # With a session cookie, the normal way: a staff session sees the details.
            if (
                request.path_info == "/readyz"
                and settings.SESSION_COOKIE_NAME not in request.COOKIES
            ):
                return views.readyz(request)
            if request.path_info == "/metrics" and "Authorization" in request.headers:
                return views.metrics_with_token(request)
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """Answer 503 with Retry-After, in the API's one error shape, when the database
    cannot be reached (restarting, failing over, out of connections), instead of
    a 500. Nothing was written: the caller may retry as it is told, with the same
    Idempotency-Key. Django's CONN_HEALTH_CHECKS (config.settings) drops the broken
    connection, so the first request after the database is back gets a fresh one.

    Only connection-level errors: an IntegrityError or a bad query is a bug and
    stays a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        # The class only: a driver's message can quote the failing SQL's values.
        logger.warning("request.database_unavailable", error=type(exception).__name__)
        response = JsonResponse(
            error_body(
                "database_unavailable",
                "The service is briefly unavailable. Please try again shortly.",
            ),
            status=503,
        )
        response["Retry-After"] = str(settings.READYZ_RETRY_AFTER_SECONDS)
        return response


class ClinicTimeZoneMiddleware:
    """Pages show times in the clinic's zone (coordinators work in clinic time); the
    API keeps answering in UTC, which machines expect."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(("/api/", "/webhooks/")):
            return self.get_response(request)
        with timezone.override(ZoneInfo(settings.CLINIC_TIME_ZONE)):
            return self.get_response(request)


# --- The lean chain of the public endpoints ---------------------------------------------

# Anonymous, cookie-less endpoints (intake.apis.PublicApi): no session, no user, no
# second factor, no idle timeout, no lockout and no audit context is ever needed to
# answer them, so the middleware that provide those skip them.
PUBLIC_PATHS = frozenset({"/api/v1/leads/", "/api/v1/events/", "/api/v1/cta/"})
_HOOKS = ("process_view", "process_exception", "process_template_response")


def is_public(request: HttpRequest) -> bool:
    return request.path_info in PUBLIC_PATHS


def staff_only(dotted_path: str) -> type:
    """A subclass of ``dotted_path``'s middleware that does its work for every request
    but those to :data:`PUBLIC_PATHS`, which go straight on (hooks included). A
    subclass, so the checks that look for the original (admin's, axes') find it."""
    from django.utils.module_loading import import_string

    wrapped_class = import_string(dotted_path)

    def __call__(self: Any, request: HttpRequest) -> HttpResponse:
        if is_public(request):
            return self.get_response(request)
        return wrapped_class.__call__(self, request)

    namespace: dict[str, object] = {
        "__call__": __call__,
        "__doc__": f"{dotted_path}, except on the public endpoints.",
        "__module__": __name__,
    }
    for hook in _HOOKS:
        if hasattr(wrapped_class, hook):
            namespace[hook] = _hook(wrapped_class, hook)
    return type(wrapped_class.__name__, (wrapped_class,), namespace)


def _hook(wrapped_class: type, name: str) -> Callable[..., object]:
    original = getattr(wrapped_class, name)

    def hook(self: Any, request: HttpRequest, *args: object, **kwargs: object) -> object:
        if is_public(request):
            return args[0] if name == "process_template_response" else None
        return original(self, request, *args, **kwargs)

    hook.__name__ = name
    return hook


SessionMiddleware = staff_only("django.contrib.sessions.middleware.SessionMiddleware")
AuthenticationMiddleware = staff_only("django.contrib.auth.middleware.AuthenticationMiddleware")
OTPMiddleware = staff_only("django_otp.middleware.OTPMiddleware")
AuditContextMiddleware = staff_only("clinic.audit.events.AuditContextMiddleware")
MessageMiddleware = staff_only("django.contrib.messages.middleware.MessageMiddleware")
IdleTimeoutMiddleware = staff_only("clinic.signin.middleware.IdleTimeoutMiddleware")
OtpRequiredMiddleware = staff_only("clinic.signin.middleware.OtpRequiredMiddleware")
AxesMiddleware = staff_only("axes.middleware.AxesMiddleware")
