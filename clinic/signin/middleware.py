"""Session rules for signed-in staff: the idle timeout and the second factor.

Both look at the session's user only. A request that authenticates with an API
token ("Authorization: Token ...") carries no session user at this point (DRF
authenticates it in the view), so integrations are subject to neither: their
token was issued by an admin and is revoked, not timed out.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import structlog
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from clinic.errors import error_body
from clinic.signin import services

logger = structlog.get_logger("clinic.signin")

LAST_ACTIVITY_KEY = "signin_last_activity"
# Marks a request the page makes by itself (htmx polling, lease renewal), which
# must not keep an unattended session alive.
BACKGROUND_HEADER = "X-Background"
BACKGROUND_QUERY = "background"
# Writing the session on every request costs a database write; a minute of
# slack in a 30-minute timeout does not matter.
ACTIVITY_WRITE_INTERVAL_SECONDS = 60


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def is_background(request: HttpRequest) -> bool:
    return request.headers.get(BACKGROUND_HEADER) == "1" or (
        request.method == "GET" and request.GET.get(BACKGROUND_QUERY) == "1"
    )


def _login_url(next_path: str) -> str:
    return f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': next_path})}"


class IdleTimeoutMiddleware:
    """Sign out a session left idle for ``IDLE_TIMEOUT_MINUTES``. Pages get a
    redirect to sign-in with a message, htmx requests an ``HX-Redirect``, the API
    a 401 in the one error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.get_response(request)
        now = timezone.now().timestamp()
        last = request.session.get(LAST_ACTIVITY_KEY)
        if last is not None and now - last > settings.IDLE_TIMEOUT_MINUTES * 60:
            return self._timed_out(request)
        background = is_background(request)
        if last is None or (not background and now - last >= ACTIVITY_WRITE_INTERVAL_SECONDS):
            request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)

    def _timed_out(self, request: HttpRequest) -> HttpResponse:
        logger.info("signin.idle_timeout", user_id=request.user.pk)
        logout(request)
        message = (
            f"You were signed out after {settings.IDLE_TIMEOUT_MINUTES} minutes without activity."
        )
        if is_api(request):
            return JsonResponse(error_body("session_expired", message), status=401)
        messages.info(request, message)
        next_path = request.get_full_path() if request.method == "GET" else request.path
        if request.headers.get("HX-Request"):
            # htmx would swap the sign-in page into the polled element: send the
            # whole page there instead.
            response = HttpResponse(status=401)
            response["HX-Redirect"] = _login_url(request.headers.get("HX-Current-URL") or "/")
            return response
        if is_background(request):
            next_path = request.path
        return HttpResponseRedirect(_login_url(next_path))


class OtpRequiredMiddleware:
    """A signed-in user who must pass a second factor (``services.otp_required_for``)
    and has not in this session is sent to verify it, or to enrol when they have
    no authenticator yet, for every page; session-authenticated API calls get 403
    in the one error shape. Sign-in pages and static files stay reachable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if services.otp_satisfied(request=request) or self._exempt(request):
            return self.get_response(request)
        if is_api(request):
            return JsonResponse(
                error_body(
                    "otp_required",
                    "Verify your second factor (two-factor sign-in) before using the API.",
                ),
                status=403,
            )
        has_device = services.totp_device_for(user=request.user) is not None
        target = reverse("signin:verify" if has_device else "signin:enrol")
        next_path = request.get_full_path() if request.method == "GET" else "/"
        response = HttpResponseRedirect(f"{target}?{urlencode({'next': next_path})}")
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=401)
            response["HX-Redirect"] = target
        return response

    @staticmethod
    def _exempt(request: HttpRequest) -> bool:
        path = request.path_info
        if path.startswith(settings.STATIC_URL):
            return True
        match = getattr(request, "resolver_match", None)
        if match is None:
            try:
                match = resolve(path)
            except Resolver404:
                return False
        if match.view_name in OTP_EXEMPT_VIEWS:
            return True
        # A DRF view that authenticates no one (the public intake API) never
        # uses the session, so the session's second factor is not its business.
        view_class = getattr(match.func, "cls", None)
        return view_class is not None and view_class.authentication_classes == []


# Where a user who still owes a second factor may go: signing in and out, and the
# second-factor pages themselves.
OTP_EXEMPT_VIEWS = frozenset({"login", "logout", "signin:verify", "signin:enrol"})
