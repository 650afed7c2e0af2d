from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Registers the tasks that services enqueue by name (clinic.workers.enqueue).
        import notifications.tasks  # noqa: F401
        from notifications.models import MessageTemplate
        from notifications.services import message_templates_forget

        # An edited message template saved or deleted is used at once in this process.
        post_save.connect(
            message_templates_forget, sender=MessageTemplate, dispatch_uid="templates_saved"
        )
        post_delete.connect(
            message_templates_forget, sender=MessageTemplate, dispatch_uid="templates_deleted"
        )
