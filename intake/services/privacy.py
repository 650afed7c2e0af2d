"""Retention and erasure: a lead's personal data goes, its aggregates stay.

One path, :func:`_lead_anonymise`, serves both the retention sweep and an erasure
request. It blanks the lead's and its submissions' names, contact details, messages
and pages; redacts its consent records to the phone's keyed hash (the evidence of
what that number agreed to); blanks its screenings' answers, scores and bands and its
insurance's payer, plan and ids (what the forms gave too); asks
notifications to blank what was sent to and received from the person (an opt-out
stays, as its hash); and tells the apps above
(``lead_erased``) to blank their own notes. Stage time stamps, articles, campaigns and
the submissions' dates stay, so the funnel rollups do not change.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from clinic.crypto import email_hash, phone_hash
from clinic.errors import ApplicationError
from intake.models import Consent, IdempotencyKey, Lead, Submission
from intake.services.insurance import insurance_erase
from intake.services.leads import lead_stage_advance
from intake.services.screenings import screenings_erase
from intake.signals import lead_erased
from notifications import services as notification_services

logger = logging.getLogger(__name__)

RETENTION_REASON = "retention period ended"
ERASED_CLOSING_REASON = "erased on request"

_LEAD_BLANK = {
    "first_name": "",
    "last_name": "",
    "phone": "",
    "email": "",
    "phone_hash": "",
    "email_hash": "",
    "timezone": "",
    "needs_review": False,
}
_SUBMISSION_BLANK = {
    "first_name": "",
    "last_name": "",
    "phone": "",
    "email": "",
    "phone_hash": "",
    "email_hash": "",
    "timezone": "",
    "message": "",
    "insurance_payer": "",
    "insurance_member_id": "",
    "page_url": "",
    "referrer": "",
    "ip_address": None,
    "user_agent": "",
}


def _held_by_another(lead: Lead, *, phone: str = "", email: str = "") -> bool:
    """Another lead not yet anonymised has this phone or email: what was sent to or
    received from that number or address is theirs too, and stays."""
    match = {"phone_hash": phone_hash(phone)} if phone else {"email_hash": email_hash(email)}
    return Lead.objects.filter(**match, anonymised_at__isnull=True).exclude(pk=lead.pk).exists()


def _lead_anonymise(*, lead_id: int, reason: str, now: datetime) -> bool:
    """Erase one lead's personal data (see the module). False if already done."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None or lead.anonymised_at is not None:
            return False
        if lead.stage != Lead.Stage.CLOSED:
            lead_stage_advance(
                lead_id=lead.pk, stage=Lead.Stage.CLOSED, reason=ERASED_CLOSING_REASON
            )
        phones = {str(value) for value in (lead.phone,) if value}
        emails = {lead.email} if lead.email else set()
        for submission in Submission.objects.filter(lead_id=lead.pk).only("phone", "email"):
            if submission.phone:
                phones.add(str(submission.phone))
            if submission.email:
                emails.add(submission.email)
        phones = {phone for phone in phones if not _held_by_another(lead, phone=phone)}
        emails = {email for email in emails if not _held_by_another(lead, email=email)}
        lead_erased.send(sender=Lead, lead_id=lead.pk)
        notification_services.contact_erase(phones=sorted(phones), emails=sorted(emails))
        Submission.objects.filter(lead_id=lead.pk).update(**_SUBMISSION_BLANK)
        IdempotencyKey.objects.filter(submission__lead_id=lead.pk).delete()
        Consent.objects.filter(lead_id=lead.pk).redact()
        screenings_erase(lead_id=lead.pk)
        insurance_erase(lead_id=lead.pk)
        Lead.objects.filter(pk=lead.pk).update(
            **_LEAD_BLANK, anonymised_at=now, anonymised_reason=reason[:200]
        )
    return True


def lead_erase(*, lead: Lead, actor: AbstractBaseUser | None, reason: str) -> bool:
    """Erase a lead's personal data at the person's request, now.

    An open lead is closed first (its live callback closes and any consultation is
    cancelled, through ``lead_erased``); an opt-out of its phone stays honoured (the
    hash is kept). ``reason`` says why (a ticket number; never the person's details)
    and is kept on the lead. Returns False when the lead was already anonymised."""
    reason = reason.strip()
    if not reason:
        raise ApplicationError("Erasing a lead needs a reason.", fields={"reason": ["Required."]})
    erased = _lead_anonymise(lead_id=lead.pk, reason=f"erasure: {reason}", now=timezone.now())
    if erased:
        logger.info(
            "intake.lead_erased",
            extra={"lead_id": lead.pk, "actor_id": getattr(actor, "pk", None)},
        )
    return erased


def lead_ids_retention_due(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Leads closed without admission more than ``RETENTION_DAYS`` ago and not yet
    anonymised, oldest first."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS)
    due = (
        Lead.objects.filter(
            stage=Lead.Stage.CLOSED,
            anonymised_at__isnull=True,
            admitted_at__isnull=True,
            closed_at__lt=cutoff,
        )
        .order_by("closed_at", "pk")
        .values_list("pk", flat=True)
    )
    return list(due[:limit] if limit else due)


def leads_retention_anonymise(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Anonymise every lead past retention (see :func:`lead_ids_retention_due`), one
    transaction per lead, ``PRIVACY_BATCH_SIZE`` at a time. Idempotent: a lead done by
    an earlier or concurrent run is skipped. Returns how many were anonymised."""
    now = now or timezone.now()
    batch_size = batch_size or settings.PRIVACY_BATCH_SIZE
    done = 0
    while True:
        batch = lead_ids_retention_due(now=now, limit=batch_size)
        if not batch:
            break
        anonymised = sum(
            _lead_anonymise(lead_id=lead_id, reason=RETENTION_REASON, now=now) for lead_id in batch
        )
        done += anonymised
        if not anonymised:
            break  # nothing changed: another run holds these rows
    spam = spam_submissions_retention_blank(now=now)
    logger.info("intake.leads_retention_anonymised", extra={"count": done, "spam": spam})
    return done


def spam_submissions_retention_blank(*, now: datetime | None = None) -> int:
    """Spam (the honeypot was filled in) is attached to no lead, so no lead's erasure
    or retention reaches it: its personal columns are blanked ``RETENTION_DAYS`` after
    it arrived, like a closed lead's. Returns how many were blanked."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS)
    due = Submission.objects.filter(lead__isnull=True, is_spam=True, created_at__lt=cutoff)
    with transaction.atomic():
        IdempotencyKey.objects.filter(submission__in=due).delete()
        return due.exclude(**{name: value for name, value in _SUBMISSION_BLANK.items()}).update(
            **_SUBMISSION_BLANK
        )
