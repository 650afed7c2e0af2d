"""Reads of a lead's personal data, on the audit trail (config.audit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from config import audit
from intake.models import LEAD_READ, Lead


def lead_access_record(*, lead: Lead, what: str, **detail: Any) -> None:
    """Record that the current user (``config.audit`` context) was shown ``lead``'s
    personal data by ``what`` (a page, an API, an export). Always recorded."""
    audit.event_record(lead, label=LEAD_READ, read=what, **detail)


def leads_access_record(*, leads: Iterable[Lead], what: str) -> int:
    """Record that a list page (the queue, the board, the appointments) showed these
    leads' names. A page polled every few seconds would bury the trail, so the same
    user seeing the same lead on the same page is recorded once per
    ``AUDIT_LIST_READ_WINDOW_SECONDS``. Returns how many reads were recorded."""
    user = audit.current_context().get("user")
    recorded = 0
    seen: set[int] = set()
    for lead in leads:
        if lead.pk in seen:
            continue
        seen.add(lead.pk)
        key = f"audit:list-read:{what.replace(' ', '-')}:{user}:{lead.pk}"
        if cache.add(key, 1, timeout=settings.AUDIT_LIST_READ_WINDOW_SECONDS):
            audit.event_record(lead, label=LEAD_READ, read=what)
            recorded += 1
    return recorded
