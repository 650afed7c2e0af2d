from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def clinic(request: HttpRequest) -> dict[str, object]:
    """The clinic's public name and phone, and whether the dev outbox exists."""
    return {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "dev_outbox_enabled": settings.DEVELOPMENT,
    }
