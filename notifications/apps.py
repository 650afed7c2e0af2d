from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Registers the tasks that services enqueue by name (clinic.workers.enqueue).
        import notifications.tasks  # noqa: F401
