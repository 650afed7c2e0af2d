from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Registers the tasks that services enqueue by name (clinic.workers.enqueue).
        from django.db.models.signals import post_delete, post_save

        import notifications.tasks  # noqa: F401
        from notifications.models import MessageTemplate
        from notifications.services import message_templates_forget

        for signal in (post_save, post_delete):
            signal.connect(
                message_templates_forget,
                sender=MessageTemplate,
                dispatch_uid=f"notifications.templates_forget.{signal is post_save}",
            )
