"""The Django admin, for the admin role only (is_staff alone is not enough), signed
in through the staff sign-in (django-axes lockout, then the second factor), with the
audit trail's pages (``config.audit``): per lead and per staff user, read-only."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from clinic import roles
from config import audit


class AuditTrailFilterForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Inclusive.",
    )
    action = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any"), *((a, a) for a in audit.event_labels())]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def trail_filters(self) -> dict[str, Any]:
        """Keyword arguments for ``config.audit.trail_for_*`` (clinic days, aware)."""
        data = self.cleaned_data
        zone = timezone.get_current_timezone()

        def start_of(day: Any) -> datetime | None:
            return datetime.combine(day, time.min, tzinfo=zone) if day else None

        until = start_of(data.get("until"))
        return {
            "since": start_of(data.get("since")),
            "until": until + timedelta(days=1) if until else None,
            "label": data.get("action") or None,
        }


class AuditUserForm(forms.Form):
    username = forms.CharField(max_length=150)

    def clean_username(self) -> Any:
        user = get_user_model().objects.filter(username=self.cleaned_data["username"]).first()
        if user is None:
            raise forms.ValidationError("No user has this username.")
        return user


class ClinicAdminSite(AdminSite):
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

    def get_urls(self) -> list[URLPattern]:
        return [
            path("audit/", self.admin_view(self.audit_index), name="audit-index"),
            path(
                "audit/lead/<int:lead_id>/",
                self.admin_view(self.audit_lead),
                name="audit-lead",
            ),
            path(
                "audit/user/<int:user_id>/",
                self.admin_view(self.audit_user),
                name="audit-user",
            ),
            *super().get_urls(),
        ]

    def audit_index(self, request: HttpRequest) -> HttpResponse:
        form = AuditUserForm(request.GET or None)
        if form.is_valid():
            return redirect("admin:audit-user", user_id=form.cleaned_data["username"].pk)
        context = {**self.each_context(request), "title": "Audit trail", "form": form}
        return TemplateResponse(request, "admin/audit_index.html", context)

    def audit_lead(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        return self._trail_page(
            request,
            title=f"Audit trail of lead {lead_id}",
            subtitle="Every change and read of this lead, its submissions, consents, "
            "callbacks, attempts, appointments and messages.",
            trail=lambda **filters: audit.trail_for_lead(lead_id, **filters),
        )

    def audit_user(self, request: HttpRequest, user_id: int) -> HttpResponse:
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None:
            raise Http404
        return self._trail_page(
            request,
            title=f"Audit trail of {user.get_username()}",
            subtitle="Every change and read this user made.",
            trail=lambda **filters: audit.trail_for_user(user_id, **filters),
        )

    def _trail_page(self, request: HttpRequest, *, title: str, subtitle: str, trail) -> Any:
        form = AuditTrailFilterForm(request.GET)
        entries = trail(**form.trail_filters()) if form.is_valid() else []
        users = get_user_model().objects.in_bulk(
            {entry.user_id for entry in entries if isinstance(entry.user_id, int)}
        )
        context = {
            **self.each_context(request),
            "title": title,
            "subtitle": subtitle,
            "form": form,
            "rows": [
                {
                    "entry": entry,
                    "username": users[entry.user_id].get_username()
                    if entry.user_id in users
                    else None,
                    "roles": ", ".join(entry.context.get("roles") or ()),
                }
                for entry in entries
            ],
            "limit": settings.AUDIT_TRAIL_PAGE_SIZE,
            "tracks_changes": audit.tracks_changes(),
        }
        return TemplateResponse(request, "admin/audit_trail.html", context)


class ClinicAdminConfig(AdminConfig):
    default_site = "config.admin.ClinicAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        from django.contrib import admin

        # After autodiscovery: it replaces the user and token admins that auth and
        # knox registered there.
        from clinic.signin.admin import register

        register(admin.site)
