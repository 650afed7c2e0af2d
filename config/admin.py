"""The Django admin, for the admin role only (is_staff alone is not enough)."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

from config import roles


class ClinicAdminSite(AdminSite):
    allowed_roles = (roles.ADMIN,)

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and roles.has_role(request.user, *self.allowed_roles)


class ClinicAdminConfig(AdminConfig):
    default_site = "config.admin.ClinicAdminSite"
