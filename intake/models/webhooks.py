"""The delivery log of outbound webhooks: a lead's stage changes sent, signed, to the
clinic's EMR or CRM (``intake.services.webhooks``).

One row per event and endpoint. The row holds what the body is built from (ids,
the stage and its time: no personal data, no clinical value) and the delivery's state,
so a lost task is driven again by the sweep and every retry sends the same event id.
The error column says what went wrong in our words ("HTTP 500", "timed out"), never
what the endpoint answered.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class WebhookDelivery(models.Model):
    """One event (a lead's stage reached or changed) to one configured endpoint."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (no more tries)"

    event_id = models.UUIDField(
        default=uuid.uuid4,
        editable=False,
        help_text="The idempotency id (X-Clinic-Event-Id): the same on every try and "
        "for every endpoint of the event.",
    )
    event_type = models.CharField(max_length=40)
    endpoint = models.URLField(max_length=500, help_text="As configured in WEBHOOK_URLS.")
    lead_id = models.BigIntegerField(db_index=True, help_text="The lead (by id, not a key).")
    stage = models.CharField(max_length=30)
    stage_at = models.DateTimeField(help_text="When the lead reached the stage.")
    appointment_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        help_text="When the next try is due (a try in progress holds it a little ahead)."
    )
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "endpoint"], name="webhook_delivery_event_endpoint_unique"
            ),
        ]
        indexes = [
            # The sweep: pending deliveries by when they are due.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.stage} of lead {self.lead_id} to {self.endpoint}"
