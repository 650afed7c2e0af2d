"""Storing submissions, attaching them to people, moving their life stages."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from clinic import business_time
from clinic.crypto import email_hash, phone_hash
from clinic.errors import ApplicationError
from intake.consent import consent_text
from intake.crisis import crisis_language_in
from intake.models import Article, Consent, IdempotencyKey, Lead, PhoneType, Submission
from intake.services.articles import article_id_for_slug
from intake.services.rollups import funnel_rollups_update, lead_funnel_snapshot
from intake.services.verification import verification_fields
from intake.signals import submission_received

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
    """The window the answer promises (clinic time), as stored on the submission: the
    worker queues the callback due at its end."""
    window = business_time.callback_window(
        submitted_at=submitted_at, best_time=best_time, tz_name=tz_name
    )
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


def _lead_attach(*, submission: Submission) -> Lead:
    """The open lead of the person who sent ``submission``, or a new one.

    People are matched by the keyed hashes of the submission's phone and email. A
    known lead takes nothing from an anonymous form but more discretion: not its
    phone, email, name, channel, time or zone (anyone who knows a person's number
    could have sent them). When the form differs from the lead (another first name,
    a phone or email the lead does not have), the lead is flagged for a coordinator,
    who confirms the details with the person (``lead_details_confirm``). Two
    concurrent first submissions from the same person meet the open-lead unique
    constraints; the loser attaches to the winner.
    """
    match = Q()
    if submission.phone_hash:
        match |= Q(phone_hash=submission.phone_hash)
    if submission.email_hash:
        match |= Q(email_hash=submission.email_hash)
    said = {name: getattr(submission, name) for name in CONTACT_PREFERENCE_DEFAULTS}
    for _ in range(3):
        lead = (
            Lead.objects.select_for_update()
            .filter(match)
            .exclude(stage=Lead.Stage.CLOSED)
            .order_by("created_at")
            .first()
        )
        if lead is not None:
            update = _more_discreet(lead, said)
            # A phone call gives no name to compare and brings the number it matched.
            if submission.first_name and _differs(lead, submission):
                update["needs_review"] = True
            _lead_save(lead, update)
            return lead
        try:
            with transaction.atomic():
                return Lead.objects.create(
                    first_name=submission.first_name,
                    last_name=submission.last_name,
                    phone=submission.phone or "",
                    phone_hash=submission.phone_hash,
                    phone_type=phone_type_of(submission.phone or None),
                    email=submission.email,
                    email_hash=submission.email_hash,
                    preferred_channel=submission.preferred_channel,
                    best_time=submission.best_time,
                    timezone=submission.timezone,
                    **said,
                )
        except IntegrityError:
            continue
    raise ApplicationError(
        "The submission could not be attached, it will be tried again.",
        code="conflict",
        status_code=409,
    )


def _differs(lead: Lead, submission: Submission) -> bool:
    """The submission says something about the person that the lead does not."""
    return (
        lead.first_name.casefold() != submission.first_name.casefold()
        or bool(submission.phone_hash and submission.phone_hash != lead.phone_hash)
        or bool(submission.email_hash and submission.email_hash != lead.email_hash)
        or bool(submission.last_name and submission.last_name != lead.last_name)
    )


def submission_attach(*, submission: Submission) -> Lead | None:
    """Attach a stored submission to its person (the worker, inside the routing
    transaction): the open lead, or a new one; record its SMS consent in the ledger,
    with the request's own time and evidence; update the funnel counts. Spam is
    attached to nobody. Idempotent: an attached submission keeps its lead."""
    if submission.lead_id is not None:
        return submission.lead
    if submission.is_spam:
        return None
    lead = _lead_attach(submission=submission)
    funnel_before = lead_funnel_snapshot(lead_id=lead.pk)
    Submission.objects.filter(pk=submission.pk).update(lead=lead)
    submission.lead = lead
    if submission.phone:
        Consent.objects.create(
            lead=lead,
            submission=submission,
            article_id=submission.article_id,
            scope=Consent.Scope.SMS,
            granted=submission.sms_consent,
            phone=submission.phone,
            phone_hash=submission.phone_hash,
            text_version=submission.consent_text_version,
            text_sha256=submission.consent_text_sha256,
            ip_address=submission.ip_address,
            user_agent=submission.user_agent,
            page_url=submission.page_url,
            created_at=submission.created_at,
        )
    funnel_rollups_update(lead_id=lead.pk, before=funnel_before)
    return lead


def lead_details_confirm(*, lead_id: int, submission_id: int) -> Lead:
    """A coordinator spoke to the person and confirmed what a later submission said:
    the lead takes its name, phone, email, channel, time, zone and contact wishes, and
    what the submission gave is verified by that confirmation (the verification moves
    with the details; those it did not give keep theirs). Fails (409) when another
    open lead holds that phone or email."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        submission = Submission.objects.filter(pk=submission_id, lead_id=lead_id).first()
        if submission is None:
            raise ApplicationError(
                "No such submission of this lead.", code="not_found", status_code=404
            )
        update: dict[str, Any] = {
            "preferred_channel": submission.preferred_channel,
            "best_time": submission.best_time,
            "voicemail_ok": submission.voicemail_ok,
            "mention_clinic_ok": submission.mention_clinic_ok,
            "needs_review": False,
        }
        if submission.first_name:
            update["first_name"] = submission.first_name
        if submission.last_name:
            update["last_name"] = submission.last_name
        if submission.timezone:
            update["timezone"] = submission.timezone
        if submission.phone:
            update.update(
                phone=submission.phone,
                phone_hash=submission.phone_hash,
                phone_type=phone_type_of(submission.phone),
            )
        if submission.email:
            update.update(email=submission.email, email_hash=submission.email_hash)
        update.update(
            verification_fields(
                phone=bool(submission.phone),
                email=bool(submission.email),
                name=bool(submission.first_name),
                by=Lead.Verification.COORDINATOR,
                at=timezone.now(),
            )
        )
        try:
            with transaction.atomic():
                _lead_save(lead, update)
        except IntegrityError:
            raise ApplicationError(
                "Another open lead has this phone or email; merge them first.",
                code="contact_taken",
                status_code=409,
            ) from None
    return lead


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
    phone_limited: bool = False,
    email_limited: bool = False,
) -> LeadSubmitOutcome:
    """Store one call-to-action answer, durably and nothing more: the submission, with
    its consent evidence (text version and hash, IP, user agent, page) and the lookup
    hashes of its phone and email, and its Idempotency-Key, in one short transaction
    that locks no row another submission needs. After commit ``submission_received``
    is sent; the worker then attaches the person's lead (``submission_attach``),
    records the consent in the ledger, counts the funnel and routes the callback. A
    lost signal is made good by the sweep.

    Nothing here depends on whether the phone or email is known, so neither the answer
    nor its timing can tell. ``consent_version`` is the consent wording the person was
    shown (default: the current one). ``contact_preferences`` holds only what the
    person said (``voicemail_ok``, ``mention_clinic_ok``); the submission stores them
    with the defaults filled in. ``in_crisis`` or crisis language in ``message`` make
    ``is_crisis`` true. ``phone_limited`` / ``email_limited``: past the per-phone or
    the per-address limit, stored and routed, but that channel gets no confirmation.

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
        text = consent_text(consent_version or None)
    except KeyError:
        raise ApplicationError(
            "Some fields are not valid.",
            fields={"consent_version": ["Unknown consent text version."]},
        ) from None
    said = {
        name: bool(value)
        for name, value in (contact_preferences or {}).items()
        if name in CONTACT_PREFERENCE_DEFAULTS
    }
    utm = utm or {}
    now = timezone.now()
    crisis_language = crisis_language_in(message)
    submission = Submission(
        article_id=article_id_for_slug(slug=article_slug),
        first_name=first_name,
        last_name=last_name,
        phone=phone or "",
        email=email,
        # Each keyed hash once: parsing and validating the number is the costly part.
        phone_hash=phone_hash(phone),
        email_hash=email_hash(email),
        preferred_channel=preferred_channel,
        best_time=best_time,
        timezone=tz_name,
        interest=interest,
        message=message,
        page_url=page_url,
        referrer=referrer,
        is_spam=is_spam,
        source=source,
        in_crisis=bool(in_crisis),
        crisis_language=crisis_language,
        first_touch=first_touch or {},
        sms_consent=bool(sms_consent) and bool(phone),
        consent_text_version=text.version if phone else "",
        consent_text_sha256=text.sha256 if phone else "",
        ip_address=_ip_or_none(ip_address),
        user_agent=(user_agent or "")[:500],
        phone_limited=phone_limited,
        email_limited=email_limited,
        # The promise depends only on what this request said, never on whether the
        # person was known: the answer must not tell.
        # A crisis is called back at once, open or closed (the callback is due then).
        callback_window={"starts_at": now.isoformat(), "ends_at": now.isoformat()}
        if in_crisis or crisis_language
        else _callback_window(submitted_at=now, best_time=best_time, tz_name=tz_name),
        **{**CONTACT_PREFERENCE_DEFAULTS, **said},
        **{name: (utm.get(name) or "")[:200] for name in UTM_FIELDS},
    )
    try:
        return _submission_store(submission, idempotency_key, request_sha256)
    except IntegrityError:
        if not idempotency_key:
            raise
        # A concurrent request with the same Idempotency-Key committed first, or the
        # key was used more than IDEMPOTENCY_KEY_TTL ago.
        replay = lead_submit_replay(idempotency_key=idempotency_key, request_sha256=request_sha256)
        if replay is not None:
            return replay
        expired, _ = IdempotencyKey.objects.filter(
            key=idempotency_key, created_at__lt=timezone.now() - settings.IDEMPOTENCY_KEY_TTL
        ).delete()
        if not expired:
            raise
        submission.pk = None
        submission._state.adding = True
        return _submission_store(submission, idempotency_key, request_sha256)


def _submission_store(
    submission: Submission, idempotency_key: str, request_sha256: str
) -> LeadSubmitOutcome:
    # A live Idempotency-Key is not looked up first: claiming it below fails with an
    # IntegrityError, which lead_submit answers with the replay.
    with transaction.atomic(durable=True):
        submission.save(force_insert=True)
        if idempotency_key:
            IdempotencyKey.objects.create(
                key=idempotency_key, request_sha256=request_sha256, submission=submission
            )
        submission_id = submission.pk
        transaction.on_commit(
            lambda: submission_received.send_robust(sender=Submission, submission_id=submission_id)
        )
    return LeadSubmitOutcome(submission=submission, replayed=False)


def lead_submit_replay(*, idempotency_key: str, request_sha256: str) -> LeadSubmitOutcome | None:
    """The outcome of the first request with this Idempotency-Key in the last 24 hours,
    or None. Raises ``ApplicationError`` (422) when that request had another body."""
    # Asked of every request with a key, and almost always answered "none": two
    # columns, no join; the submission is loaded only for a replay.
    previous = (
        IdempotencyKey.objects.filter(
            key=idempotency_key,
            created_at__gte=timezone.now() - settings.IDEMPOTENCY_KEY_TTL,
        )
        .values_list("request_sha256", "submission_id")
        .first()
    )
    if previous is None:
        return None
    sha256, submission_id = previous
    if sha256 != request_sha256:
        raise ApplicationError(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
            status_code=422,
        )
    return LeadSubmitOutcome(submission=Submission.objects.get(pk=submission_id), replayed=True)


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


def lead_reopen(*, lead_id: int, stage: str) -> bool:
    """Undo a closing: the lead, closed and not anonymised, is back at ``stage`` (the
    stage it had before it was closed), its closing time and reason cleared, the funnel
    counts put back: a person's undo of their cancel (``scheduling.services.request_link``)
    or a coordinator's of a mistaken closing outcome (:func:`lead_close_undo`).
    Returns False, changing nothing, when the lead is not closed, was anonymised, or
    another open lead now holds its phone or email (at most one open lead each)."""
    stage = Lead.Stage(stage)
    if stage == Lead.Stage.CLOSED:
        raise ValueError("A lead is reopened at the stage it had before it was closed.")
    with transaction.atomic():
        lead = (
            Lead.objects.select_for_update()
            .filter(pk=lead_id, stage=Lead.Stage.CLOSED, anonymised_at__isnull=True)
            .first()
        )
        if lead is None:
            return False
        taken = Q()
        if lead.phone_hash:
            taken |= Q(phone_hash=lead.phone_hash)
        if lead.email_hash:
            taken |= Q(email_hash=lead.email_hash)
        if taken and Lead.objects.filter(taken).exclude(stage=Lead.Stage.CLOSED).exists():
            return False
        funnel_before = lead_funnel_snapshot(lead_id=lead_id)
        lead.stage = stage
        lead.closed_at = None
        lead.closed_reason = ""
        try:
            # A submission attaching a new lead for the same phone in the meantime.
            with transaction.atomic():
                lead.save(update_fields=["stage", "closed_at", "closed_reason"])
        except IntegrityError:
            return False
        funnel_rollups_update(lead_id=lead_id, before=funnel_before)
    return True


def lead_close_undo(*, lead_id: int, stage: str) -> None:
    """Reopen a lead a coordinator closed moments ago by mistake, at ``stage`` (where it
    was before): :func:`lead_reopen`, refused (409) when it cannot be."""
    if not lead_reopen(lead_id=lead_id, stage=stage):
        raise ApplicationError(
            "The person has a newer request open, or this lead is no longer closed: "
            "work the open one instead.",
            code="lead_reopened_elsewhere",
            status_code=409,
        )


def lead_contact_restrict(
    *, lead_id: int, voicemail_ok: bool | None = None, mention_clinic_ok: bool | None = None
) -> bool:
    """Make contact with the lead more discreet (from a request's link): only False is
    taken; allowing voicemail or the clinic's name again needs a coordinator."""
    restrict = {
        name: False
        for name, value in (
            ("voicemail_ok", voicemail_ok),
            ("mention_clinic_ok", mention_clinic_ok),
        )
        if value is False
    }
    return bool(restrict) and bool(Lead.objects.filter(pk=lead_id).update(**restrict))


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
