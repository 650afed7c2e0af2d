"""Intake's read paths, for its own views and for the apps above it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import F, Max, Q, QuerySet

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from intake.consent import consent_text
from intake.crisis import crisis_resources
from intake.models import (
    Article,
    Consent,
    Lead,
    PhoneType,
    Screening,
    Submission,
    payer_choices,
)
from notifications import selectors as notification_selectors


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


def submission_lead_id(*, submission_id: int) -> int | None:
    """The lead a request was attached to (None before the worker attached it)."""
    return Submission.objects.filter(pk=submission_id).values_list("lead_id", flat=True).first()


def submission_has_phone(*, submission_id: int) -> bool:
    return Submission.objects.filter(pk=submission_id).exclude(phone="").exists()


def lead_get(*, lead_id: int) -> Lead | None:
    return Lead.objects.filter(pk=lead_id).first()


def lead_exists(*, lead_id: int) -> bool:
    return Lead.objects.filter(pk=lead_id).exists()


def lead_stage(*, lead_id: int | None) -> str:
    """The lead's life stage, "" for no lead."""
    if lead_id is None:
        return ""
    return Lead.objects.filter(pk=lead_id).values_list("stage", flat=True).first() or ""


def leads_by_ids(*, lead_ids: Iterable[int]) -> QuerySet[Lead]:
    return Lead.objects.filter(pk__in=set(lead_ids))


def lead_ids_with_phone(*, phone: str) -> QuerySet[Lead]:
    """The ids of the leads with this phone (a subquery), none for an empty one."""
    return lead_ids_with_phone_hash(hashed=phone_hash(phone))


def lead_ids_with_phone_hash(*, hashed: str) -> QuerySet[Lead]:
    """The same, from the phone's lookup hash (an inbound text carries it)."""
    return Lead.objects.filter(phone_hash=hashed).exclude(phone_hash="").values("pk")


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
    return notification_selectors.sms_country_allowed(phone=phone)


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


@dataclass(frozen=True)
class LeadVerification:
    """Which of the lead's details are proven to be the person's (see
    ``intake.services.verification``)."""

    phone: bool
    email: bool
    name: bool


def lead_verification(*, lead_id: int) -> LeadVerification:
    """What is verified of the lead now. An unknown lead has nothing verified."""
    values = (
        Lead.objects.filter(pk=lead_id)
        .values("phone_verified_at", "email_verified_at", "name_confirmed_at")
        .first()
    )
    if values is None:
        return LeadVerification(phone=False, email=False, name=False)
    return LeadVerification(
        phone=values["phone_verified_at"] is not None,
        email=values["email_verified_at"] is not None,
        name=values["name_confirmed_at"] is not None,
    )


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
        "insurance_payers": _choice_list(payer_choices()),
        "crisis_resources": crisis_resources(),
        "captcha": {
            "provider": settings.CAPTCHA_PROVIDER,
            "site_key": settings.CAPTCHA_SITE_KEY if settings.CAPTCHA_PROVIDER else "",
        },
    }


def lead_sms_consent_granted(*, lead_id: int) -> bool:
    """The clinic may text the lead's current phone number now (:func:`sms_permission`,
    with the lead's own requests as the forms that may have said yes)."""
    lead = Lead.objects.filter(pk=lead_id).only("phone").first()
    return lead is not None and sms_permission(phone=lead.phone, lead_id=lead_id).allowed


@dataclass(frozen=True)
class SmsPermission:
    #: The clinic may text the number now.
    allowed: bool
    #: Why: "form" (a request said yes, nothing ever said no), "phone" (the phone's own
    #: yes since the last no); or why not: "no_phone", "opted_out", "refused",
    #: "declined" (a request said no or the number stopped texts, and the phone has not
    #: said yes since), "no_consent" (no request of these said yes).
    reason: str


def sms_permission(
    *, phone: Any, lead_id: int | None = None, submission_id: int | None = None
) -> SmsPermission:
    """May the clinic text ``phone`` now? The one answer every sender of a text to a
    person asks (confirmation, console, follow-ups, reminders), so the rule cannot drift.

    Consent to text a number is the most restrictive answer given for it. The number
    must not be opted out or under a refusal. Once any request declined texts for the
    number (whoever's lead it went to; a phone call asks nothing and declines nothing)
    or the number stopped texts (STOP, carrier, a link, a refusal), a form's yes no
    longer counts: only the phone's own yes since then does (START, or YES to the
    coordinator's invitation: ``notifications.sms_consent``). Otherwise a yes from
    the forms that speak for this contact counts: the lead's requests (``lead_id``)
    or this one request (``submission_id``), for this number. Whether the line can
    take texts at all (``phone_sms_reachable``) and rate limits are separate checks."""
    hashed = phone_hash(phone)
    speaking = Q(pk__in=[])
    if lead_id is not None:
        speaking |= Q(lead_id=lead_id)
    if submission_id is not None:
        speaking |= Q(submission_id=submission_id)
    return _sms_permission(phone=phone, hashed=hashed, speaking=speaking)


def submission_sms_permission(*, submission: Submission) -> SmsPermission:
    """:func:`sms_permission` for the number a request gave, with that request speaking
    for it, whether or not the worker has attached it yet: its own yes (on the request
    until attaching copies it to the ledger) counts as the ledger's would, and so does
    every "no" given by a request for the number not in the ledger yet (stored, not yet
    routed): the most restrictive answer wins before routing as after it."""
    phone = submission.phone
    hashed = submission.phone_hash or phone_hash(phone)
    pending_declined_at = (
        Submission.objects.filter(
            processed_at__isnull=True, phone_hash=hashed, sms_consent=False, is_spam=False
        )
        .exclude(phone_hash="")
        .exclude(source=Submission.Source.PHONE)
        .aggregate(last=Max("created_at"))["last"]
        if hashed
        else None
    )
    return _sms_permission(
        phone=phone,
        hashed=hashed,
        speaking=Q(submission_id=submission.pk),
        said_yes=submission.sms_consent,
        pending_declined_at=pending_declined_at,
    )


def _sms_permission(
    *,
    phone: Any,
    hashed: str,
    speaking: Q,
    said_yes: bool = False,
    pending_declined_at: datetime | None = None,
) -> SmsPermission:
    if not hashed:
        return SmsPermission(False, "no_phone")
    if notification_selectors.contact_refused(phone=phone):
        return SmsPermission(False, "refused")
    if notification_selectors.sms_block_get(phone=phone) is not None:
        return SmsPermission(False, "opted_out")
    ledger = Consent.objects.filter(scope=Consent.Scope.SMS, phone_hash=hashed)
    declined_at = (
        ledger.filter(granted=False)
        .exclude(submission__source=Submission.Source.PHONE)
        .aggregate(last=Max("created_at"))["last"]
    )
    state = notification_selectors.sms_consent_state_get(phone=phone)
    stopped = [
        moment
        for moment in (declined_at, pending_declined_at, state and state.restricted_at)
        if moment
    ]
    proven_at = state.proven_at if state else None
    if proven_at and (not stopped or proven_at > max(stopped)):
        return SmsPermission(True, "phone")
    if stopped:
        return SmsPermission(False, "declined")
    if said_yes or ledger.filter(speaking, granted=True).exists():
        return SmsPermission(True, "form")
    return SmsPermission(False, "no_consent")


@dataclass(frozen=True)
class Discretion:
    #: An open lead with this phone asked for discretion (no clinic name).
    phone: bool
    #: An open lead with this email address did.
    email: bool


def open_lead_discretion(*, phone_hash: str, email_hash: str) -> Discretion:
    """Whether the open lead(s) with this phone or this address asked not to have the
    clinic named: a message to their own phone or address is discreet, whichever
    request it answers (the lead need not be attached to it yet). One query."""
    match = Q(pk__in=[])
    if phone_hash:
        match |= Q(phone_hash=phone_hash)
    if email_hash:
        match |= Q(email_hash=email_hash)
    discreet = set(
        Lead.objects.filter(match, mention_clinic_ok=False)
        .exclude(stage=Lead.Stage.CLOSED)
        .values_list("phone_hash", "email_hash")
    )
    return Discretion(
        phone=bool(phone_hash) and any(phone == phone_hash for phone, _ in discreet),
        email=bool(email_hash) and any(email == email_hash for _, email in discreet),
    )


def lead_submissions(*, lead_id: int) -> QuerySet[Submission]:
    return (
        Submission.objects.filter(lead_id=lead_id).select_related("article").order_by("-created_at")
    )


def lead_ids_in_crisis(*, lead_ids: list[int]) -> set[int]:
    """Those of ``lead_ids`` with a crisis submission (``Submission.is_crisis``, spam
    aside) or a screening that opened the crisis protocol (``Screening.opens_crisis``):
    every message to such a person carries 988 and 911, and their urgent
    callback follows the crisis cadence. One query."""
    submitted = (
        Submission.objects.filter(lead_id__in=lead_ids, is_spam=False)
        .filter(Q(in_crisis=True) | Q(crisis_language=True))
        .order_by()
        .values_list("lead_id", flat=True)
    )
    # A screening whose self-harm question was answered above 0 is a crisis too.
    screened = (
        Screening.objects.filter(lead_id__in=lead_ids, opens_crisis=True)
        .order_by()
        .values_list("lead_id", flat=True)
    )
    return set(submitted.union(screened))


def lead_in_crisis(*, lead_id: int) -> bool:
    """The lead made a crisis submission or a screening opened the crisis protocol
    (see :func:`lead_ids_in_crisis`)."""
    return bool(lead_ids_in_crisis(lead_ids=[lead_id]))


def lead_screenings(*, lead_id: int) -> list[Screening]:
    """The lead's screenings, newest first, with who recorded them. Clinical data: the
    caller records the read (``intake.services.screenings_access_record``)."""
    return list(
        Screening.objects.filter(lead_id=lead_id)
        .select_related("created_by")
        .order_by("-created_at", "-pk")
    )


def lead_crisis_screenings(*, lead_id: int) -> list[Screening]:
    """The lead's screenings that opened the crisis protocol, newest first: when, and
    by whom (for the crisis banner; nothing clinical is read beyond that fact)."""
    return list(
        Screening.objects.filter(lead_id=lead_id, opens_crisis=True)
        .select_related("created_by")
        .only("pk", "lead_id", "instrument", "opens_crisis", "created_at", "created_by")
        .order_by("-created_at", "-pk")
    )


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


def lead_of_reference(*, reference: str) -> Lead:
    """The lead of a public reference, for the staff APIs that take one in their path;
    ``ApplicationError`` 404 (``not_found``) when no request has it."""
    lead = lead_by_reference(reference=reference)
    if lead is None:
        raise ApplicationError("No request has this reference.", code="not_found", status_code=404)
    return lead


def leads_first_spoken_to(*, since: datetime, until: datetime) -> list[tuple[int, datetime, Any]]:
    """(lead id, first conversation, who had it) of the leads first spoken to in
    [since, until), for the speed-to-lead figures."""
    return list(
        Lead.objects.filter(first_conversation_at__gte=since, first_conversation_at__lt=until)
        .order_by()
        .values_list("pk", "first_conversation_at", "first_conversation_by_id")
    )


def leads_first_request(*, lead_ids: list[int]) -> dict[int, tuple[datetime, int | None]]:
    """Each lead's first request that was not spam: when it came, and its article."""
    firsts: dict[int, tuple[datetime, int | None]] = {}
    for lead_id, created_at, article_id in (
        Submission.objects.filter(lead_id__in=lead_ids, is_spam=False)
        .order_by("-created_at", "-pk")
        .values_list("lead_id", "created_at", "article_id")
    ):
        firsts[lead_id] = (created_at, article_id)
    return firsts


def article_titles(*, article_ids: Iterable[int]) -> dict[int, str]:
    return dict(Article.objects.filter(pk__in=list(article_ids)).values_list("pk", "title"))


def lead_ids_not_spoken_to() -> QuerySet[Lead]:
    """The ids of the leads nobody has had a conversation with yet (a subquery)."""
    return Lead.objects.filter(first_conversation_at__isnull=True).values("pk")


def leads_in_bulk(*, lead_ids: Iterable[int]) -> dict[int, Lead]:
    """The leads with these ids, by id (none for none)."""
    ids = list(set(lead_ids))
    return Lead.objects.in_bulk(ids) if ids else {}
