from __future__ import annotations

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        # Registers the tasks that services enqueue by name (clinic.workers.enqueue).
        import scheduling.tasks  # noqa: F401
        from intake.signals import lead_erased, submission_received
        from notifications.signals import (
            call_missed,
            call_received,
            message_failed,
            message_sent,
            reply_received,
        )
        from scheduling import receivers

        submission_received.connect(
            receivers.on_submission_received, dispatch_uid="scheduling.submission_received"
        )
        reply_received.connect(
            receivers.on_reply_received, dispatch_uid="scheduling.reply_received"
        )
        call_received.connect(receivers.on_call_received, dispatch_uid="scheduling.call_received")
        call_missed.connect(receivers.on_call_missed, dispatch_uid="scheduling.call_missed")
        lead_erased.connect(receivers.on_lead_erased, dispatch_uid="scheduling.lead_erased")
        message_failed.connect(
            receivers.on_message_failed, dispatch_uid="scheduling.message_failed"
        )
        message_sent.connect(receivers.on_message_sent, dispatch_uid="scheduling.message_sent")
