"""The Django admin, for the admin role only (is_staff alone is not enough), signed
in through the staff sign-in (django-axes lockout, then the second factor), with the
audit trail's pages (``clinic.audit.trail``): per lead and per staff user, read-only."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from clinic import roles
from clinic.audit.trail import AuditTrailAdminSite


class ClinicAdminSite(AuditTrailAdminSite):
    allowed_roles = (roles.ADMIN,)

    def has_permission(self, request: HttpRequest) -> bool:
        # Imported here: this module loads with INSTALLED_APPS, before the models
        # (django-otp's, knox's) that the sign-in services import.
        from clinic.signin import services

        # As django-otp's OTPAdminSite: an admin who owes a second factor is not
        # let in, whatever path they took to a session.
        return (
            super().has_permission(request)
            and roles.has_role(request.user, *self.allowed_roles)
            and services.otp_satisfied(request=request)
        )

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """One way in: the staff sign-in, so the admin gets the same lockout and
        second factor as every other page."""
        next_path = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': next_path})}")


class ClinicAdminConfig(AdminConfig):
    default_site = "config.admin.ClinicAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        from django.contrib import admin

        # After autodiscovery: it replaces the user and token admins that auth and
        # knox registered there.
        from clinic.signin.admin import register

        register(admin.site)
