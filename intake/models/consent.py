"""The consent ledger: what a person agreed to, with the exact wording shown; it only
grows."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone as django_timezone
from phonenumber_field.modelfields import PhoneNumberField

from clinic.audit.events import audited
from intake.models.leads import Article, Lead, Submission


class ConsentLedgerError(Exception):
    """Someone tried to change or delete a consent record."""


class ConsentQuerySet(models.QuerySet["Consent"]):
    """The ledger only grows: bulk updates and deletes are refused."""

    def update(self, **kwargs: Any) -> int:
        raise ConsentLedgerError("Consent records are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ConsentLedgerError("Consent records are append-only.")

    def redact(self) -> int:
        """Drop the personal fields of these records, keeping the phone's hash and the
        rest of the evidence (the PostgreSQL trigger allows exactly this change)."""
        return super().update(**CONSENT_REDACTED)


# What an anonymised consent record keeps of its personal fields.
CONSENT_REDACTED: dict[str, Any] = {
    "phone": "",
    "ip_address": None,
    "user_agent": "",
    "page_url": "",
}


@audited(personal=["phone", "phone_hash", "ip_address", "user_agent", "page_url"])
class Consent(models.Model):
    """Append-only record of what a person agreed to, with the exact wording shown.

    Rows are only ever inserted (``save()`` of a stored row, ``delete()`` and queryset
    ``update()``/``delete()`` raise ``ConsentLedgerError``; on PostgreSQL a trigger
    refuses UPDATE too). The one change allowed is ``ConsentQuerySet.redact()``, when
    the lead is anonymised: the phone, IP address, user agent and page go, and the
    phone's keyed hash stays as the evidence of what that number agreed to.
    """

    class Scope(models.TextChoices):
        SMS = "sms", "Text messages"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="consents")
    article = models.ForeignKey(Article, on_delete=models.PROTECT, null=True, blank=True)
    scope = models.CharField(max_length=20, choices=Scope.choices)
    granted = models.BooleanField()
    phone = PhoneNumberField(blank=True, help_text="The number the SMS consent covers.")
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    text_version = models.CharField(max_length=50)
    text_sha256 = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    # The time of the request whose evidence this is (the worker writes the row later).
    created_at = models.DateTimeField(default=django_timezone.now)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "scope"], name="consent_once_per_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} consent {'granted' if self.granted else 'refused'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ConsentLedgerError("Consent records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ConsentLedgerError("Consent records are append-only.")
