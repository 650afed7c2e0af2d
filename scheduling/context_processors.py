"""What every console page's header shows: the inbox's unread count for care staff."""

from __future__ import annotations

from django.http import HttpRequest

from clinic import roles
from notifications import conversations


def inbox(request: HttpRequest) -> dict[str, object]:
    """``inbox_unread``: how many threads have unread texts, counted (one indexed
    COUNT) only when a template shows it, and only for care staff."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if not roles.has_role(user, roles.COORDINATOR, roles.SUPERVISOR):
        return {}
    # A callable: the template calls it when it renders the nav link, not before.
    return {"inbox_unread": conversations.conversations_unread_count}
