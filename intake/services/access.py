"""Reads of a lead's personal data, on the audit trail (clinic.audit.events)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.text import slugify

from clinic.audit import events
from intake.models import LEAD_READ, Lead


def lead_access_record(*, lead: Lead, what: str, **detail: Any) -> None:
    """Record that the current user (``clinic.audit.events`` context) was shown ``lead``'s
    personal data by ``what`` (a page, an API, an export). Always recorded."""
    events.event_record(lead, label=LEAD_READ, read=what, **detail)


def leads_access_record(*, leads: Iterable[Lead], what: str) -> int:
    """Record that a list page (the queue, the board, the appointments) showed these
    leads' names. A page polled every few seconds would bury the trail, so the same
    user seeing the same lead on the same page is recorded once per
    ``AUDIT_LIST_READ_WINDOW_SECONDS`` (one cache round trip and one INSERT a page).
    Returns how many reads were recorded."""
    user = events.current_context().get("user")
    shown = {lead.pk: lead for lead in leads}
    keys = {f"audit:list-read:{slugify(what)}:{user}:{pk}": pk for pk in shown}
    seen = cache.get_many(list(keys))
    fresh = [shown[pk] for key, pk in keys.items() if key not in seen]
    if not fresh:
        return 0
    events.events_record(fresh, label=LEAD_READ, read=what)
    cache.set_many(
        {key: 1 for key, pk in keys.items() if key not in seen},
        timeout=settings.AUDIT_LIST_READ_WINDOW_SECONDS,
    )
    return len(fresh)
