"""Storing submissions, attaching them to people, moving their life stages."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from config.crypto import email_hash, phone_hash
from config.exceptions import ApplicationError
from intake.consent import consent_text
from intake.crisis import crisis_language_in
from intake.models import Article, Consent, IdempotencyKey, Lead, PhoneType, Submission
from intake.services.articles import article_for_slug
from intake.services.rollups import funnel_rollups_update, lead_funnel_snapshot
from intake.signals import callback_window_requested, submission_received

logger = logging.getLogger(__name__)

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CONTACT_PREFERENCE_DEFAULTS = {"voicemail_ok": False, "mention_clinic_ok": True}

_PHONE_TYPES = {
    getattr(phonenumbers.PhoneNumberType, choice.name): choice.value for choice in PhoneType
}


@dataclass(frozen=True)
class LeadSubmitOutcome:
    submission: Submission
    #: True when an earlier request with the same Idempotency-Key made ``submission``.
    replayed: bool


def request_fingerprint(payload: dict[str, Any]) -> str:
    """A stable SHA-256 of a request body, to tell a replay from a reused key."""
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def phone_type_of(phone: PhoneNumber | None) -> str:
    """The kind of line (``PhoneType``) a number is, or "" without a number."""
    if not phone:
        return ""
    return _PHONE_TYPES.get(phonenumbers.number_type(phone), PhoneType.UNKNOWN)


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def _callback_window(*, submitted_at: datetime, best_time: str, tz_name: str) -> dict[str, str]:
    answers = [
        answer
        for _receiver, answer in callback_window_requested.send(
            sender=Submission, submitted_at=submitted_at, best_time=best_time, timezone=tz_name
        )
        if answer
    ]
    if answers:
        window = answers[0]
    else:
        window = {
            "starts_at": submitted_at,
            "ends_at": submitted_at + timedelta(minutes=settings.SPEED_TO_LEAD_MINUTES),
        }
    return {key: value.isoformat() for key, value in window.items()}


def _more_discreet(lead: Lead, contact_preferences: dict[str, bool]) -> dict[str, bool]:
    """The wishes that make contact with ``lead`` more discreet. A wish to relax
    (allow voicemail, name the clinic) is not taken from an anonymous form: anyone
    who knows a person's phone could send it, to the person's harm. It stays on its
    submission for a coordinator to confirm with the person."""
    return {
        name: False
        for name, value in contact_preferences.items()
        if value is False and getattr(lead, name) is not False
    }


def _lead_save(lead: Lead, update: dict[str, Any]) -> None:
    changed = [name for name, value in update.items() if getattr(lead, name) != value]
    for name in changed:
        setattr(lead, name, update[name])
    if changed:
        lead.save(update_fields=changed)


class ContactHashes(NamedTuple):
    """The keyed lookup hashes of one submission's phone and email ("" for none)."""

    phone: str
    email: str


def _lead_update_from(
    lead: Lead,
    *,
    last_name: str,
    phone: PhoneNumber | None,
    email: str,
    hashes: ContactHashes,
    preferred_channel: str,
    best_time: str,
    tz_name: str,
    contact_preferences: dict[str, bool],
) -> None:
    """A later submission by the same person: their latest channel and time win, they
    can ask for more discretion, and contact details the lead lacked are filled in
    (unless another open lead holds them)."""
    update: dict[str, Any] = {"preferred_channel": preferred_channel, "best_time": best_time}
    if tz_name:
        update["timezone"] = tz_name
    if last_name and not lead.last_name:
        update["last_name"] = last_name
    update.update(_more_discreet(lead, contact_preferences))
    _lead_save(lead, update)
    fill: dict[str, Any] = {}
    if phone and not lead.phone:
        fill.update(phone=phone, phone_hash=hashes.phone, phone_type=phone_type_of(phone))
    if email and not lead.email:
        fill.update(email=email, email_hash=hashes.email)
    if fill:
        try:
            with transaction.atomic():
                Lead.objects.filter(pk=lead.pk).update(**fill)
        except IntegrityError:
            pass  # another open lead has that phone or email: leave both as they are
        else:
            for name, value in fill.items():
                setattr(lead, name, value)


def _lead_attach(
    *,
    first_name: str,
    last_name: str,
    phone: PhoneNumber | None,
    email: str,
    hashes: ContactHashes,
    preferred_channel: str,
    best_time: str,
    tz_name: str,
    contact_preferences: dict[str, bool],
    is_spam: bool,
) -> Lead:
    """The open lead for this phone or email, or a new one.

    A matching lead under another first name is kept, not merged, and flagged
    for a coordinator to review; it keeps its own wishes, except that it becomes
    more discreet if the newcomer asked for that. Spam attaches but changes
    nothing on the lead. Two concurrent first submissions from the same person
    meet the open-lead unique constraints; the loser attaches to the winner.
    """
    # People are matched by the keyed hashes of their phone and email (an address
    # differing only in case is the same person).
    match = Q()
    if phone:
        match |= Q(phone_hash=hashes.phone)
    if email:
        match |= Q(email_hash=hashes.email)
    for _ in range(3):
        lead = (
            Lead.objects.select_for_update()
            .filter(match)
            .exclude(stage=Lead.Stage.CLOSED)
            .order_by("created_at")
            .first()
        )
        if lead is not None:
            # Spam changes nothing; a phone call gives no name to compare or to keep.
            if is_spam or not first_name:
                return lead
            if lead.first_name.casefold() == first_name.casefold():
                _lead_update_from(
                    lead,
                    last_name=last_name,
                    phone=phone,
                    email=email,
                    hashes=hashes,
                    preferred_channel=preferred_channel,
                    best_time=best_time,
                    tz_name=tz_name,
                    contact_preferences=contact_preferences,
                )
            else:
                _lead_save(
                    lead, {"needs_review": True, **_more_discreet(lead, contact_preferences)}
                )
            return lead
        try:
            with transaction.atomic():
                return Lead.objects.create(
                    first_name=first_name,
                    last_name=last_name,
                    phone=phone or "",
                    phone_hash=hashes.phone,
                    phone_type=phone_type_of(phone),
                    email=email,
                    email_hash=hashes.email,
                    preferred_channel=preferred_channel,
                    best_time=best_time,
                    timezone=tz_name,
                    **{**CONTACT_PREFERENCE_DEFAULTS, **contact_preferences},
                )
        except IntegrityError:
            continue
    raise ApplicationError(
        "The request could not be stored, please try again.", code="conflict", status_code=409
    )


def lead_submit(
    *,
    first_name: str,
    last_name: str = "",
    phone: PhoneNumber | None = None,
    email: str = "",
    preferred_channel: str = Lead.Channel.CALL,
    best_time: str = Lead.BestTime.ANYTIME,
    tz_name: str = "",
    interest: str = "",
    message: str = "",
    sms_consent: bool = False,
    consent_version: str = "",
    contact_preferences: dict[str, bool] | None = None,
    in_crisis: bool = False,
    article_slug: str = "",
    page_url: str = "",
    referrer: str = "",
    utm: dict[str, str] | None = None,
    first_touch: dict[str, str] | None = None,
    is_spam: bool = False,
    ip_address: str | None = None,
    user_agent: str = "",
    idempotency_key: str = "",
    request_sha256: str = "",
    source: str = Submission.Source.WEB,
) -> LeadSubmitOutcome:
    """Store one call-to-action answer: the lead (new or the person's open one), the
    submission linked to its article and campaign, and the SMS consent record, in one
    transaction. After commit, ``submission_received`` is sent; the stored submission
    is the durable promise, so a lost signal is made good by the sweep.

    A second submission from a known phone or email attaches to that person's open
    lead; nothing in the outcome tells the caller whether that happened.

    ``consent_version`` is the consent wording the person was shown (default: the
    current one); the record keeps it and its SHA-256. ``contact_preferences`` holds
    only what the person said (``voicemail_ok``, ``mention_clinic_ok``); the
    submission stores them with the defaults filled in; a new lead takes them, a known
    one only when they make contact more discreet (see ``_more_discreet``).
    ``in_crisis`` or crisis language in ``message`` make ``is_crisis`` true.

    With ``idempotency_key``, a repeated key with the same ``request_sha256`` returns
    the first submission (``replayed=True``) and stores nothing; with another body it
    raises ``ApplicationError`` (422). Keys are forgotten after ``IDEMPOTENCY_KEY_TTL``.
    """
    if not (phone or email):
        raise ApplicationError(
            "A phone number or an email address is needed.",
            fields={"phone": ["Give a phone number or an email address."]},
        )
    try:
        consent_text(consent_version or None)
    except KeyError:
        raise ApplicationError(
            "Some fields are not valid.",
            fields={"consent_version": ["Unknown consent text version."]},
        ) from None
    try:
        return _lead_submit(**locals())
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key committed first.
        if idempotency_key:
            replay = lead_submit_replay(
                idempotency_key=idempotency_key, request_sha256=request_sha256
            )
            if replay is not None:
                return replay
        raise


def lead_submit_replay(*, idempotency_key: str, request_sha256: str) -> LeadSubmitOutcome | None:
    """The outcome of the first request with this Idempotency-Key in the last 24 hours,
    or None. Raises ``ApplicationError`` (422) when that request had another body."""
    previous = (
        IdempotencyKey.objects.select_related("submission")
        .filter(
            key=idempotency_key,
            created_at__gte=timezone.now() - settings.IDEMPOTENCY_KEY_TTL,
        )
        .first()
    )
    if previous is None:
        return None
    if previous.request_sha256 != request_sha256:
        raise ApplicationError(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
            status_code=422,
        )
    return LeadSubmitOutcome(submission=previous.submission, replayed=True)


def _lead_submit(**kwargs: Any) -> LeadSubmitOutcome:
    # A live Idempotency-Key is not looked up first: claiming it below fails with an
    # IntegrityError, which lead_submit answers with the replay. One query fewer on
    # every request with a key; a replay (rare) costs a rolled-back transaction.
    key = kwargs["idempotency_key"]
    with transaction.atomic(durable=True):
        if key:
            # An expired key may be reused; drop the old row before claiming it again.
            IdempotencyKey.objects.filter(
                key=key, created_at__lt=timezone.now() - settings.IDEMPOTENCY_KEY_TTL
            ).delete()
        article = article_for_slug(slug=kwargs["article_slug"])
        said = {
            name: bool(value)
            for name, value in (kwargs["contact_preferences"] or {}).items()
            if name in CONTACT_PREFERENCE_DEFAULTS
        }
        # Each keyed hash once: parsing and validating the number is the costly part.
        hashes = ContactHashes(phone=phone_hash(kwargs["phone"]), email=email_hash(kwargs["email"]))
        lead = _lead_attach(
            first_name=kwargs["first_name"],
            last_name=kwargs["last_name"],
            phone=kwargs["phone"],
            email=kwargs["email"],
            hashes=hashes,
            preferred_channel=kwargs["preferred_channel"],
            best_time=kwargs["best_time"],
            tz_name=kwargs["tz_name"],
            contact_preferences=said,
            is_spam=kwargs["is_spam"],
        )
        utm = kwargs["utm"] or {}
        now = timezone.now()
        funnel_before = lead_funnel_snapshot(lead_id=lead.pk)
        submission = Submission.objects.create(
            lead=lead,
            article=article,
            first_name=kwargs["first_name"],
            phone=kwargs["phone"] or "",
            email=kwargs["email"],
            interest=kwargs["interest"],
            message=kwargs["message"],
            page_url=kwargs["page_url"],
            referrer=kwargs["referrer"],
            is_spam=kwargs["is_spam"],
            source=kwargs["source"],
            in_crisis=bool(kwargs["in_crisis"]),
            crisis_language=crisis_language_in(kwargs["message"]),
            first_touch=kwargs["first_touch"] or {},
            # The promise depends only on what this request said, never on whether the
            # person was known: the answer must not tell.
            callback_window=_callback_window(
                submitted_at=now, best_time=kwargs["best_time"], tz_name=kwargs["tz_name"]
            ),
            **{**CONTACT_PREFERENCE_DEFAULTS, **said},
            **{name: (utm.get(name) or "")[:200] for name in UTM_FIELDS},
        )
        if kwargs["phone"]:
            text = consent_text(kwargs["consent_version"] or None)
            Consent.objects.create(
                lead=lead,
                submission=submission,
                article=article,
                scope=Consent.Scope.SMS,
                granted=bool(kwargs["sms_consent"]),
                phone=kwargs["phone"],
                phone_hash=hashes.phone,
                text_version=text.version,
                text_sha256=text.sha256,
                ip_address=_ip_or_none(kwargs["ip_address"]),
                user_agent=(kwargs["user_agent"] or "")[:500],
                page_url=kwargs["page_url"],
            )
        if key:
            IdempotencyKey.objects.create(
                key=key, request_sha256=kwargs["request_sha256"], submission=submission
            )
        funnel_rollups_update(lead_id=lead.pk, before=funnel_before)
        submission_id = submission.pk
        transaction.on_commit(
            lambda: submission_received.send_robust(sender=Submission, submission_id=submission_id)
        )
    return LeadSubmitOutcome(submission=submission, replayed=False)


def submission_mark_processed(*, submission_id: int) -> bool:
    """Record that the callback and confirmations of a submission are queued.
    Returns False when it was already marked (a redelivered task)."""
    return bool(
        Submission.objects.filter(pk=submission_id, processed_at__isnull=True).update(
            processed_at=timezone.now()
        )
    )


STAGE_TIMESTAMP = {
    Lead.Stage.CONTACTING: "contacting_at",
    Lead.Stage.CONTACTED: "contacted_at",
    Lead.Stage.CONSULT_BOOKED: "consult_booked_at",
    Lead.Stage.CONSULT_ATTENDED: "consult_attended_at",
    Lead.Stage.ADMITTED: "admitted_at",
    Lead.Stage.CLOSED: "closed_at",
}
STAGE_ORDER = [
    Lead.Stage.NEW,
    Lead.Stage.CONTACTING,
    Lead.Stage.CONTACTED,
    Lead.Stage.CONSULT_BOOKED,
    Lead.Stage.CONSULT_ATTENDED,
    Lead.Stage.ADMITTED,
]


def lead_stage_advance(*, lead_id: int, stage: str, reason: str = "") -> bool:
    """Move a lead forward to ``stage`` and time-stamp it; never backwards, never out of
    ``closed``. Closing needs a reason. Returns False when nothing changed."""
    stage = Lead.Stage(stage)
    if stage == Lead.Stage.CLOSED and not reason:
        raise ApplicationError("Closing a lead needs a reason.", fields={"reason": ["Required."]})
    if stage == Lead.Stage.CONTACTING:
        # Not a funnel stage (nothing in the rollups moves), and only a new lead moves
        # to it: one conditional UPDATE, no lock or snapshots (every claim comes here).
        return bool(
            Lead.objects.filter(pk=lead_id, stage=Lead.Stage.NEW).update(
                stage=stage, contacting_at=timezone.now()
            )
        )
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if lead.stage in (Lead.Stage.CLOSED, stage):
            return False
        if stage != Lead.Stage.CLOSED and STAGE_ORDER.index(stage) < STAGE_ORDER.index(lead.stage):
            return False
        funnel_before = lead_funnel_snapshot(lead_id=lead_id)
        now = timezone.now()
        lead.stage = stage
        update = ["stage", STAGE_TIMESTAMP[stage]]
        setattr(lead, STAGE_TIMESTAMP[stage], now)
        if stage == Lead.Stage.CLOSED:
            lead.closed_reason = reason[:200]
            update.append("closed_reason")
        lead.save(update_fields=update)
        funnel_rollups_update(lead_id=lead_id, before=funnel_before)
    return True


def lead_contact_preferences_update(
    *, lead_id: int, voicemail_ok: bool, mention_clinic_ok: bool
) -> bool:
    """The person changed how the clinic may contact them (from their signed link)."""
    return bool(
        Lead.objects.filter(pk=lead_id).update(
            voicemail_ok=voicemail_ok, mention_clinic_ok=mention_clinic_ok
        )
    )


def lead_submit_call(
    *, caller: PhoneNumber, article_id: int | None, idempotency_key: str
) -> LeadSubmitOutcome:
    """A phone call to an article's tracking number, recorded as a submission from
    that article: the caller's number is matched to their open lead like a web
    lead's; a new caller becomes a lead without a name. A call gives no consent to
    texts, so none is recorded as given. ``idempotency_key`` names the call: a second
    call of this function for it replays the first submission."""
    article = Article.objects.filter(pk=article_id).only("slug").first() if article_id else None
    return lead_submit(
        first_name="",
        phone=caller,
        article_slug=article.slug if article else "",
        source=Submission.Source.PHONE,
        idempotency_key=idempotency_key,
        request_sha256=request_fingerprint({"call": idempotency_key}),
    )
