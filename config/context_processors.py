from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from clinic import roles


def clinic(request: HttpRequest) -> dict[str, object]:
    """The clinic's public name and phone, the user's roles, and whether the dev
    outbox exists."""
    user = getattr(request, "user", None)
    return {
        "user_roles": roles.user_roles(user) if user is not None else set(),
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "dev_outbox_enabled": settings.DEVELOPMENT,
    }
