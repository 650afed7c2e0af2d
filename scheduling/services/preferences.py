"""Each staff member's own console settings."""

from __future__ import annotations

from scheduling.models import ConsolePreference


def console_preference_set(*, user_id: int, shortcuts_enabled: bool) -> ConsolePreference:
    """Turn the user's single-key shortcuts on or off (WCAG 2.1.4), for every page of
    the console and every device they sign in on."""
    preference, _created = ConsolePreference.objects.update_or_create(
        user_id=user_id, defaults={"shortcuts_enabled": shortcuts_enabled}
    )
    return preference
