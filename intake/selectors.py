"""Intake's read paths, for its own views and for the apps above it."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from intake.models import Article, Consent, Lead, Submission


def article_get_listed(*, slug: str) -> Article | None:
    return Article.objects.filter(slug=slug, is_listed=True).first()


def article_list_listed() -> QuerySet[Article]:
    return Article.objects.filter(is_listed=True).order_by("title")


def submission_get(*, submission_id: int) -> Submission | None:
    return Submission.objects.select_related("lead", "article").filter(pk=submission_id).first()


def submission_ids_unprocessed(*, older_than: datetime, limit: int = 500) -> list[int]:
    """Submissions whose hand-off to the workers has not happened by ``older_than``."""
    return list(
        Submission.objects.filter(processed_at__isnull=True, created_at__lt=older_than)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def submission_sms_consent_granted(*, submission_id: int) -> bool:
    return Consent.objects.filter(
        submission_id=submission_id, scope=Consent.Scope.SMS, granted=True
    ).exists()


def lead_get(*, lead_id: int) -> Lead | None:
    return Lead.objects.filter(pk=lead_id).first()
