"""Sign-in pages: password (django-axes watches it), then the second factor,
enrolment of an authenticator app, backup codes, and the locked-out answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic import roles
from clinic.errors import ApplicationError, error_body
from clinic.roles import role_required
from clinic.signin import services
from clinic.signin.middleware import is_api

# Backup codes wait here, in the session, between enrolment and the page that
# shows them once.
FRESH_CODES_KEY = "signin_fresh_backup_codes"


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class SignInView(auth_views.LoginView):
    """Username and password. django-axes counts this form's failures; the
    second factor is asked next (clinic.signin.middleware.OtpRequiredMiddleware)."""

    template_name = "registration/login.html"

    def get_success_url(self) -> str:
        # Each role lands where it works (marketing on the reports), also when the
        # sign-in was asked for by the console's default link.
        return _landing(self.request, super().get_success_url())


def _landing(request: HttpRequest, target: str) -> str:
    """``target``, unless it is the console and the user does not work there: then
    the user's own home."""
    if target == reverse(settings.LOGIN_REDIRECT_URL) and not roles.has_role(
        request.user, roles.COORDINATOR, roles.SUPERVISOR
    ):
        return _home_for(request.user)
    return target


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


def _home_for(user: Any) -> str:
    if roles.has_role(user, roles.COORDINATOR, roles.SUPERVISOR):
        return reverse(settings.LOGIN_REDIRECT_URL)
    if roles.has_role(user, roles.MARKETING):
        return reverse("reports:reports-dashboard")
    return reverse("admin:index")


def _with_query(path: str, request: HttpRequest) -> str:
    return f"{path}?{request.GET.urlencode()}" if request.GET else path


def _next_for(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    return _landing(request, _next(request)) if target else _home_for(request.user)


@never_cache
@require_http_methods(["GET", "POST"])
@role_required(*roles.ALL)
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator app, or a
    backup code (each works once)."""
    if request.user.is_verified():
        return HttpResponseRedirect(_next_for(request))
    if services.totp_device_for(user=request.user) is None:
        return redirect(_with_query(reverse("signin:enrol"), request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.otp_verify(user=request.user, token=form.cleaned_data["token"])
        if device is not None:
            request.session.cycle_key()
            otp_login(request, device)
            return HttpResponseRedirect(_next_for(request))
        form.add_error("token", "That code did not match. Try the current code, or a backup code.")
    return render(
        request, "registration/otp_verify.html", {"form": form, "next": _next_for(request)}
    )


@never_cache
@require_http_methods(["GET", "POST"])
@role_required(*roles.ALL)
def otp_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: a QR code (inline SVG) and the secret for
    manual entry; the device counts only once a code from it is confirmed."""
    if services.totp_device_for(user=request.user) is not None:
        if not request.user.is_verified():
            return redirect(_with_query(reverse("signin:verify"), request))
        messages.info(request, "Two-factor sign-in is already set up.")
        return redirect("signin:backup-codes")
    device = services.totp_device_start(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.totp_device_confirm(
                user=request.user, device=device, token=form.cleaned_data["token"]
            )
        except ApplicationError as error:
            for message in (error.fields or {}).get("token", [error.message]):
                form.add_error("token", message)
        else:
            request.session.cycle_key()
            otp_login(request, TOTPDevice.objects.get(pk=device.pk))
            request.session[FRESH_CODES_KEY] = codes
            target = reverse("signin:backup-codes")
            next_path = request.POST.get("next")
            return redirect(f"{target}?{urlencode({'next': next_path})}" if next_path else target)
    context = {
        "form": form,
        "qr_svg": services.totp_qr_svg(device=device),
        "secret": services.totp_secret_for_manual_entry(device=device),
        "issuer": settings.OTP_TOTP_ISSUER,
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "registration/otp_enrol.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@role_required(*roles.ALL)
def backup_codes(request: HttpRequest) -> HttpResponse:
    """Backup codes, shown once right after they are made; a verified user may
    replace them (the old ones stop working)."""
    if request.method == "POST":
        if not request.user.is_verified():
            return redirect("signin:verify")
        request.session[FRESH_CODES_KEY] = services.backup_codes_regenerate(user=request.user)
        return redirect("signin:backup-codes")
    codes = request.session.pop(FRESH_CODES_KEY, None)
    context = {
        "codes": codes,
        "enrolled": services.totp_device_for(user=request.user) is not None,
        "verified": request.user.is_verified(),
        "next": _next_for(request),
    }
    return render(request, "registration/backup_codes.html", context)


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked-out client: 429, with when to try again;
    JSON in the one error shape for API callers."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"Too many failed sign-in attempts. Try again in {minutes} minutes, "
        "or ask an admin to unlock your account."
    )
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if is_api(request) or "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse(
            error_body("locked_out", message), status=settings.AXES_HTTP_RESPONSE_CODE
        )
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": message, "minutes": minutes},
            status=settings.AXES_HTTP_RESPONSE_CODE,
        )
    response["Retry-After"] = retry_after
    return response
