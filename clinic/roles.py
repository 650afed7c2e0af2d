"""Staff roles. Each is a Django group of the same name (made by a data migration)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

COORDINATOR = "coordinator"
SUPERVISOR = "supervisor"
MARKETING = "marketing"
ADMIN = "admin"
ALL = (COORDINATOR, SUPERVISOR, MARKETING, ADMIN)
# Roles that may see a lead's personal data.
CARE_TEAM = (COORDINATOR, SUPERVISOR, ADMIN)


def user_roles(user: Any) -> set[str]:
    if not user.is_authenticated or not user.is_active:
        return set()
    if not hasattr(user, "_role_names"):
        names = set(user.groups.filter(name__in=ALL).values_list("name", flat=True))
        if user.is_superuser:
            names.add(ADMIN)
        user._role_names = names
    return user._role_names


def has_role(user: Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def role_required(*roles: str) -> Callable:
    """Page decorator: sign-in first, then 403 unless the user holds one of ``roles``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


class HasRole(BasePermission):
    """DRF permission: ``permission_classes = [HasRole.of(COORDINATOR, SUPERVISOR)]``."""

    roles: tuple[str, ...] = ()

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        return type(f"HasRole_{'_'.join(roles)}", (cls,), {"roles": roles})

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user, *self.roles)


class ApiDocsAccess(HasRole):
    """The OpenAPI document and its browser (``/api/schema/``, ``/api/docs/``): any
    member of staff, or anyone where ``API_DOCS_PUBLIC`` opens them (development).
    They hold no data, but they map every endpoint and its rules for an attacker."""

    roles = ALL

    def has_permission(self, request: Any, view: Any) -> bool:
        return settings.API_DOCS_PUBLIC or super().has_permission(request, view)
