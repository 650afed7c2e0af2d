"""A callback request, checked once and then stored (zulip's check/do split).

``submission_check`` applies every rule of a request from the form or the API, in
this order: a replayed Idempotency-Key (with a bot check), the per-phone and
per-address limits, the bot check, then the request's content
(:func:`submission_build`); it returns one ``SubmissionRequest``.
``submission_store`` writes it. ``lead_submit`` does both for a request without a
browser (a phone call, tests' factories); ``lead_submit_call`` for a phone call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.sql import InsertQuery
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from clinic import business_time
from clinic.crypto import email_hash, phone_hash
from clinic.errors import ApplicationError
from intake.captcha import CaptchaVerdict, CaptchaVerifier
from intake.consent import consent_text
from intake.crisis import crisis_language_in
from intake.models import Article, IdempotencyKey, Lead, Submission
from intake.services.articles import article_id_for_slug
from intake.services.leads import CONTACT_PREFERENCE_DEFAULTS, UTM_FIELDS
from intake.signals import submission_received
from intake.throttles import Limit, contact_limits, limits_hit, limits_unhit


@dataclass(frozen=True)
class LeadSubmitOutcome:
    submission: Submission
    #: True when an earlier request with the same Idempotency-Key made ``submission``.
    replayed: bool


@dataclass(frozen=True)
class SubmissionRequest:
    """One callback request, checked: the submission to store (unsaved), or the
    outcome of the first request with its Idempotency-Key (``replay``), and the
    contact limits it was counted against, taken back when it turns out a replay."""

    submission: Submission | None
    idempotency_key: str = ""
    request_sha256: str = ""
    replay: LeadSubmitOutcome | None = None
    contact_limits: list[Limit] = dataclasses.field(default_factory=list)
    #: When ``contact_limits`` were counted (``limits_unhit`` takes back that count).
    counted_at: float = 0.0


def request_fingerprint(payload: dict[str, Any]) -> str:
    """A stable SHA-256 of a request body, to tell a replay from a reused key."""
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


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


def submission_check(
    *,
    data: Mapping[str, Any],
    ip_address: str | None,
    user_agent: str,
    idempotency_key: str = "",
    request_sha256: str = "",
) -> SubmissionRequest:
    """Check a validated form or API body (``LeadSubmitInputSerializer``) and build
    the request to store, once.

    A replayed Idempotency-Key is not counted against the phone or address and is
    not checked for a bot again (a captcha token is single-use, and a retry is not a
    new request). Without a bot check the key is not looked up first: claiming it
    fails on the unique key and ``submission_store`` answers with the replay (one
    query fewer on every request); its hits on the contact limits are then taken
    back. Raises ``ApplicationError``."""
    verifier = CaptchaVerifier.from_settings()
    if idempotency_key and verifier is not None:
        replay = lead_submit_replay(idempotency_key=idempotency_key, request_sha256=request_sha256)
        if replay is not None:
            return SubmissionRequest(submission=None, replay=replay)
    phone = data.get("phone")
    email = data.get("email", "")
    # Past the per-phone or per-address limit the request is stored and answered like
    # any other, but nothing is sent: a 429 here would tell a stranger that someone
    # else has used this number or address.
    # ``is not None``: a PhoneNumber's truth value formats it (its length), at a cost.
    limits = contact_limits(phone=phone.as_e164 if phone is not None else "", email=email)
    counted_at = time.time()
    limited = {
        limit.scope
        for limit, verdict in zip(limits, limits_hit(limits, now=counted_at), strict=True)
        if not verdict.allowed
    }
    if verifier is not None:
        verdict = verifier.verify(token=data.get("captcha_token", ""), remote_ip=ip_address)
        # UNAVAILABLE lets the request in: a provider's outage must not lose leads.
        if verdict is CaptchaVerdict.FAILED:
            raise ApplicationError(
                "Some fields are not valid.",
                fields={"captcha_token": ["The check that you are not a robot failed."]},
            )
    request = submission_build(
        first_name=data["first_name"],
        last_name=data.get("last_name", ""),
        phone=phone,
        email=email,
        preferred_channel=data["preferred_channel"],
        best_time=data["best_time"],
        tz_name=data.get("timezone", ""),
        interest=data.get("interest", ""),
        message=data.get("message", ""),
        insurance_payer=data.get("insurance_payer", ""),
        insurance_member_id=data.get("insurance_member_id", ""),
        sms_consent=data["sms_consent"],
        consent_version=data.get("consent_version", ""),
        contact_preferences=dict(data.get("contact_preferences") or {}),
        in_crisis=data.get("in_crisis", False),
        article_slug=data.get("article", ""),
        page_url=data.get("page_url", ""),
        referrer=data.get("referrer", ""),
        utm={name: data.get(name, "") for name in UTM_FIELDS},
        first_touch=dict(data.get("first_touch") or {}),
        is_spam=bool(data.get("website")),
        ip_address=ip_address,
        user_agent=user_agent,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
        phone_limited="lead_submit_phone" in limited,
        email_limited="lead_submit_email" in limited,
    )
    return dataclasses.replace(request, contact_limits=limits, counted_at=counted_at)


def submission_build(
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
    insurance_payer: str = "",
    insurance_member_id: str = "",
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
) -> SubmissionRequest:
    """One call-to-action answer, checked and built, not yet stored
    (:func:`submission_store` stores it durably and nothing more): the submission, with
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
    ``insurance_payer`` and ``insurance_member_id`` (optional, checked by the caller)
    stay on the submission, encrypted and unverified.

    With ``idempotency_key``, a repeated key with the same ``request_sha256`` returns
    the first submission (``replayed=True``) and stores nothing; with another body it
    raises ``ApplicationError`` (422). Keys are forgotten after ``IDEMPOTENCY_KEY_TTL``.
    """
    # A PhoneNumber's truth value validates and formats it each time: asked once.
    has_phone = bool(phone)
    if not (has_phone or email):
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
    # Wherever the person wrote it: a cry for help typed into the name boxes counts too.
    crisis_language = any(crisis_language_in(text) for text in (message, first_name, last_name))
    submission = Submission(
        article_id=article_id_for_slug(slug=article_slug),
        first_name=first_name,
        last_name=last_name,
        phone=phone if has_phone else "",
        email=email,
        # Each keyed hash once: parsing and validating the number is the costly part.
        phone_hash=phone_hash(phone),
        email_hash=email_hash(email),
        preferred_channel=preferred_channel,
        best_time=best_time,
        timezone=tz_name,
        interest=interest,
        message=message,
        # Kept with this request alone, whoever the person turns out to be: never
        # copied onto a lead's insurance but by a coordinator (intake.models.insurance).
        insurance_payer=insurance_payer,
        insurance_member_id=insurance_member_id,
        page_url=page_url,
        referrer=referrer,
        is_spam=is_spam,
        source=source,
        in_crisis=bool(in_crisis),
        crisis_language=crisis_language,
        first_touch=first_touch or {},
        sms_consent=bool(sms_consent) and has_phone,
        consent_text_version=text.version if has_phone else "",
        consent_text_sha256=text.sha256 if has_phone else "",
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
    return SubmissionRequest(
        submission=submission, idempotency_key=idempotency_key, request_sha256=request_sha256
    )


def submission_store(*, request: SubmissionRequest) -> LeadSubmitOutcome:
    """Store a checked request (:func:`submission_check`, :func:`submission_build`):
    the submission and its Idempotency-Key in one short transaction, then, after
    commit, ``submission_received``. A request that is a replay stores nothing and
    answers with the first submission (``replayed=True``), its contact-limit hits
    taken back. Raises ``ApplicationError`` (422) for a key reused with another body."""
    if request.replay is not None:
        return request.replay
    if request.submission is None:
        raise ValueError("A SubmissionRequest holds a submission or a replay.")
    outcome = _submission_save_or_replay(
        request.submission, request.idempotency_key, request.request_sha256
    )
    if outcome.replayed and request.contact_limits:
        limits_unhit(request.contact_limits, now=request.counted_at)
    return outcome


def _submission_save_or_replay(
    submission: Submission, idempotency_key: str, request_sha256: str
) -> LeadSubmitOutcome:
    try:
        return _submission_insert(submission, idempotency_key, request_sha256)
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
        return _submission_insert(submission, idempotency_key, request_sha256)


def lead_submit(**fields: Any) -> LeadSubmitOutcome:
    """Check and store one call-to-action answer made without a browser (no bot check,
    no contact limits): :func:`submission_build` (its keyword arguments, its rules)
    then :func:`submission_store`."""
    return submission_store(request=submission_build(**fields))


def _submission_insert(
    submission: Submission, idempotency_key: str, request_sha256: str
) -> LeadSubmitOutcome:
    # A live Idempotency-Key is not looked up first: claiming it below fails with an
    # IntegrityError, which _submission_save_or_replay answers with the replay.
    connection = transaction.get_connection()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        _submission_insert_statement(connection, submission, idempotency_key, request_sha256)
    else:
        # Inside a transaction (tests), or another database: the ORM's two INSERTs, in
        # a savepoint of their own.
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


def _submission_insert_statement(
    connection: Any, submission: Submission, idempotency_key: str, request_sha256: str
) -> None:
    """The submission and its Idempotency-Key in one statement, committed on its own
    (autocommit): PostgreSQL runs a statement as one transaction, so both rows are
    stored or neither, with one round trip instead of BEGIN, two INSERTs and COMMIT
    (docs/profiles.md, issue 24). The submission's INSERT is Django's own (its
    fields' defaults, ``auto_now_add`` and encryption, as ``save()`` gives them)."""
    meta = Submission._meta
    query = InsertQuery(Submission)
    query.insert_values(
        [field for field in meta.local_concrete_fields if field is not meta.auto_field],
        [submission],
    )
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [meta.pk]
    ((sql, params),) = compiler.as_sql()
    if idempotency_key:
        quote = connection.ops.quote_name
        key_meta = IdempotencyKey._meta
        key, sha256, submission_id, created_at = (
            quote(key_meta.get_field(name).column)
            for name in ("key", "request_sha256", "submission", "created_at")
        )
        # Only quoted names from the models' metadata and Django's own INSERT are put in
        # the text; every value is a parameter.
        sql = (
            f"WITH stored AS ({sql}) INSERT INTO {quote(key_meta.db_table)}"  # noqa: S608
            f" ({key}, {sha256}, {submission_id}, {created_at})"
            f" SELECT %s, %s, stored.{quote(meta.pk.column)}, %s FROM stored"
            f" RETURNING {submission_id}"
        )
        params = (*params, idempotency_key, request_sha256, timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (submission.pk,) = cursor.fetchone()
    submission._state.adding = False
    submission._state.db = connection.alias


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
