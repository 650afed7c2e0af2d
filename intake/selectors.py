"""Intake's read paths, for its own views and for the apps above it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
from django.conf import settings
from django.db.models import F, Q, QuerySet

from config.crypto import phone_hash
from intake.consent import consent_text
from intake.crisis import crisis_resources
from intake.models import Article, Consent, Lead, PhoneType, Submission


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
    """The submission granted SMS consent for the number its lead has now (a person
    matched by email may have given another number than the lead's)."""
    return (
        Consent.objects.filter(
            submission_id=submission_id,
            scope=Consent.Scope.SMS,
            granted=True,
            phone_hash=F("lead__phone_hash"),
        )
        .exclude(phone_hash="")
        .exists()
    )


def lead_get(*, lead_id: int) -> Lead | None:
    return Lead.objects.filter(pk=lead_id).first()


# Lines that can take a text message (US numbers are mostly "fixed line or mobile").
SMS_CAPABLE_PHONE_TYPES = frozenset(
    {
        PhoneType.MOBILE,
        PhoneType.FIXED_LINE_OR_MOBILE,
        PhoneType.VOIP,
        PhoneType.PERSONAL_NUMBER,
        PhoneType.UNKNOWN,
        "",  # not classified (leads stored before the phone type was kept)
    }
)


def lead_sms_reachable(*, lead_id: int) -> bool:
    """The lead's phone can take an SMS: a line type that can (a fixed line gets a
    call instead) in a country in ``SMS_ALLOWED_COUNTRIES``. Consent, opt-outs and
    rate limits are separate checks."""
    lead = Lead.objects.filter(pk=lead_id).only("phone", "phone_type").first()
    if lead is None or not lead.phone:
        return False
    return phone_sms_reachable(phone=lead.phone, phone_type=lead.phone_type)


def phone_sms_reachable(*, phone: Any, phone_type: str) -> bool:
    """A number of this line type can take an SMS, in an allowed country."""
    if not phone or phone_type not in SMS_CAPABLE_PHONE_TYPES:
        return False
    return phonenumbers.region_code_for_number(phone) in settings.SMS_ALLOWED_COUNTRIES


@dataclass(frozen=True)
class ContactPreferences:
    #: A message may be left on voicemail.
    voicemail_ok: bool
    #: The clinic may be named to whoever answers, in voicemail and in messages.
    mention_clinic_ok: bool


def lead_contact_preferences(*, lead_id: int) -> ContactPreferences:
    """How discreet contact with the lead must be (their latest wishes). An unknown
    lead gets the most discreet answer."""
    values = Lead.objects.filter(pk=lead_id).values("voicemail_ok", "mention_clinic_ok").first()
    if values is None:
        return ContactPreferences(voicemail_ok=False, mention_clinic_ok=False)
    return ContactPreferences(**values)


_INTEREST_LABELS = {"ocd": "OCD", "substance-use": "Substance use"}


def _choice_list(choices: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"value": value, "label": str(label)} for value, label in choices]


def cta_config() -> dict[str, Any]:
    """What the call-to-action embed shows: the current consent text, the form's
    choices and the crisis resources, so the page shows what the server serves."""
    text = consent_text()
    return {
        "consent": {"version": text.version, "text": text.text, "sha256": text.sha256},
        "interests": [
            {"value": value, "label": _INTEREST_LABELS.get(value) or value.capitalize()}
            for value in settings.INTAKE_INTERESTS
        ],
        "preferred_channels": _choice_list(Lead.Channel.choices),
        "best_times": _choice_list(Lead.BestTime.choices),
        "crisis_resources": crisis_resources(),
        "captcha": {
            "provider": settings.CAPTCHA_PROVIDER,
            "site_key": settings.CAPTCHA_SITE_KEY if settings.CAPTCHA_PROVIDER else "",
        },
    }


def lead_sms_consent_granted(*, lead_id: int) -> bool:
    """The lead agreed to texts at their current phone number (on any submission)."""
    return (
        Consent.objects.filter(
            lead_id=lead_id,
            scope=Consent.Scope.SMS,
            granted=True,
            phone_hash=F("lead__phone_hash"),
        )
        .exclude(phone_hash="")
        .exists()
    )


def lead_submissions(*, lead_id: int) -> QuerySet[Submission]:
    return (
        Submission.objects.filter(lead_id=lead_id).select_related("article").order_by("-created_at")
    )


def lead_ids_in_crisis(*, lead_ids: list[int]) -> set[int]:
    """Those of ``lead_ids`` with a crisis submission (``Submission.is_crisis``, spam
    aside): every message to such a person carries 988 and 911, and their urgent
    callback follows the crisis cadence. One query."""
    return set(
        Submission.objects.filter(lead_id__in=lead_ids, is_spam=False)
        .filter(Q(in_crisis=True) | Q(crisis_language=True))
        .values_list("lead_id", flat=True)
        .distinct()
    )


def lead_in_crisis(*, lead_id: int) -> bool:
    """The lead made a crisis submission (see :func:`lead_ids_in_crisis`)."""
    return bool(lead_ids_in_crisis(lead_ids=[lead_id]))


def lead_submissions_to_review(*, lead: Lead) -> list[Submission]:
    """The lead's submissions that said something the lead does not (another name, a
    phone or email it lacks, another channel, time or zone, other contact wishes):
    an anonymous form's details a coordinator confirms with the person before the
    lead takes them. Newest first."""
    differing = []
    for submission in lead_submissions(lead_id=lead.pk).exclude(is_spam=True):
        said = {
            "first_name": submission.first_name.casefold() or lead.first_name.casefold(),
            "last_name": submission.last_name or lead.last_name,
            "phone_hash": submission.phone_hash or lead.phone_hash,
            "email_hash": submission.email_hash or lead.email_hash,
            "preferred_channel": submission.preferred_channel,
            "best_time": submission.best_time,
            "timezone": submission.timezone or lead.timezone,
            "voicemail_ok": submission.voicemail_ok,
            "mention_clinic_ok": submission.mention_clinic_ok,
        }
        has = {name: getattr(lead, name) for name in said}
        has["first_name"] = lead.first_name.casefold()
        if said != has:
            differing.append(submission)
    return differing


def lead_consents(*, lead_id: int) -> QuerySet[Consent]:
    return Consent.objects.filter(lead_id=lead_id).order_by("-created_at")


def article_id_for_tracking_number(*, number: str) -> int | None:
    """The article whose tracking number was called, if any."""
    if not number:
        return None
    return Article.objects.filter(tracking_number=number).values_list("pk", flat=True).first()


def lead_id_open_for_phone(*, phone: str) -> int | None:
    return (
        Lead.objects.filter(phone_hash=phone_hash(phone))
        .exclude(phone_hash="")
        .exclude(stage=Lead.Stage.CLOSED)
        .order_by("created_at")
        .values_list("pk", flat=True)
        .first()
    )


def lead_by_reference(*, reference: str) -> Lead | None:
    """The lead one of whose submissions has this public reference."""
    submission = (
        Submission.objects.select_related("lead")
        .filter(reference=reference.strip().upper())
        .first()
    )
    return submission.lead if submission else None
