"""Intake's write paths: storing submissions, attaching them to people, moving life stages."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from phonenumber_field.phonenumber import PhoneNumber

from config.exceptions import ApplicationError
from intake.consent import consent_text
from intake.models import Article, Consent, IdempotencyKey, Lead, Submission
from intake.signals import callback_window_requested, submission_received

logger = logging.getLogger(__name__)

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True)
class LeadSubmitOutcome:
    submission: Submission
    #: True when an earlier request with the same Idempotency-Key made ``submission``.
    replayed: bool


def request_fingerprint(payload: dict[str, Any]) -> str:
    """A stable SHA-256 of a request body, to tell a replay from a reused key."""
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def article_for_slug(*, slug: str) -> Article | None:
    """The article a CTA named; an unknown slug makes an unlisted article flagged for
    review, so that a lead from a page the clinic forgot to register is never refused."""
    slug = slugify(slug)[:200]
    if not slug:
        return None
    article, created = Article.objects.get_or_create(
        slug=slug,
        defaults={
            "title": slug.replace("-", " ").capitalize(),
            "is_listed": False,
            "needs_review": True,
        },
    )
    if created:
        logger.warning("intake.article.unknown_slug_created", extra={"article_id": article.pk})
    return article


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


def _lead_attach(
    *,
    first_name: str,
    last_name: str,
    phone: PhoneNumber | None,
    email: str,
    preferred_channel: str,
    best_time: str,
    tz_name: str,
) -> Lead:
    """The open lead for this phone or email, or a new one.

    A matching lead under another first name is kept, not merged, and flagged
    for a coordinator to review. Two concurrent first submissions from the same
    person meet the open-lead unique constraints; the loser attaches to the winner.
    """
    match = Q()
    if phone:
        match |= Q(phone=phone)
    if email:
        match |= Q(email=email)
    for _ in range(3):
        lead = (
            Lead.objects.select_for_update()
            .filter(match)
            .exclude(stage=Lead.Stage.CLOSED)
            .order_by("created_at")
            .first()
        )
        if lead is not None:
            if lead.first_name.casefold() != first_name.casefold() and not lead.needs_review:
                lead.needs_review = True
                lead.save(update_fields=["needs_review"])
            return lead
        try:
            with transaction.atomic():
                return Lead.objects.create(
                    first_name=first_name,
                    last_name=last_name,
                    phone=phone or "",
                    email=email,
                    preferred_channel=preferred_channel,
                    best_time=best_time,
                    timezone=tz_name,
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
    article_slug: str = "",
    page_url: str = "",
    referrer: str = "",
    utm: dict[str, str] | None = None,
    is_spam: bool = False,
    ip_address: str | None = None,
    user_agent: str = "",
    idempotency_key: str = "",
    request_sha256: str = "",
) -> LeadSubmitOutcome:
    """Store one call-to-action answer: the lead (new or the person's open one), the
    submission linked to its article and campaign, and the SMS consent record, in one
    transaction. After commit, ``submission_received`` is sent; the stored submission
    is the durable promise, so a lost signal is made good by the sweep.

    With ``idempotency_key``, a repeated key with the same ``request_sha256`` returns
    the first submission (``replayed=True``) and stores nothing; with another body it
    raises ``ApplicationError`` (422).
    """
    if not (phone or email):
        raise ApplicationError(
            "A phone number or an email address is needed.",
            fields={"phone": ["Give a phone number or an email address."]},
        )
    try:
        return _lead_submit(**locals())
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key committed first.
        if idempotency_key:
            replay = _idempotent_replay(key=idempotency_key, request_sha256=request_sha256)
            if replay is not None:
                return replay
        raise


def _idempotent_replay(*, key: str, request_sha256: str) -> LeadSubmitOutcome | None:
    previous = (
        IdempotencyKey.objects.select_related("submission")
        .filter(key=key, created_at__gte=timezone.now() - settings.IDEMPOTENCY_KEY_TTL)
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
    key = kwargs["idempotency_key"]
    if key:
        replay = _idempotent_replay(key=key, request_sha256=kwargs["request_sha256"])
        if replay is not None:
            return replay

    with transaction.atomic(durable=True):
        if key:
            # An expired key may be reused; drop the old row before claiming it again.
            IdempotencyKey.objects.filter(key=key).delete()
        article = article_for_slug(slug=kwargs["article_slug"])
        lead = _lead_attach(
            first_name=kwargs["first_name"],
            last_name=kwargs["last_name"],
            phone=kwargs["phone"],
            email=kwargs["email"],
            preferred_channel=kwargs["preferred_channel"],
            best_time=kwargs["best_time"],
            tz_name=kwargs["tz_name"],
        )
        utm = kwargs["utm"] or {}
        now = timezone.now()
        submission = Submission.objects.create(
            lead=lead,
            article=article,
            first_name=kwargs["first_name"],
            interest=kwargs["interest"],
            message=kwargs["message"],
            page_url=kwargs["page_url"],
            referrer=kwargs["referrer"],
            is_spam=kwargs["is_spam"],
            callback_window=_callback_window(
                submitted_at=now, best_time=lead.best_time, tz_name=lead.timezone
            ),
            **{name: (utm.get(name) or "")[:200] for name in UTM_FIELDS},
        )
        if kwargs["phone"]:
            text = consent_text()
            Consent.objects.create(
                lead=lead,
                submission=submission,
                article=article,
                scope=Consent.Scope.SMS,
                granted=bool(kwargs["sms_consent"]),
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
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if lead.stage in (Lead.Stage.CLOSED, stage):
            return False
        if stage != Lead.Stage.CLOSED and STAGE_ORDER.index(stage) < STAGE_ORDER.index(lead.stage):
            return False
        now = timezone.now()
        lead.stage = stage
        update = ["stage", STAGE_TIMESTAMP[stage]]
        setattr(lead, STAGE_TIMESTAMP[stage], now)
        if stage == Lead.Stage.CLOSED:
            lead.closed_reason = reason[:200]
            update.append("closed_reason")
        lead.save(update_fields=update)
    return True


# Lines of a pasted web page that are navigation or image captions, not article text.
_PAGE_CHROME_PREFIXES = ("Call:", "Table of Contents", "Screenshot ")
_PAGE_CHROME_ENDINGS = ("Start your path to healing today!", "Other Deep Dive Articles")


def article_import_text(*, slug: str, text: str, topic: str = "") -> Article:
    """Create or update an article from plain text copied off the clinic's site: the
    first line is the title; navigation, captions and the old phone-number call to
    action are dropped (the CTA form replaces them)."""
    lines = [line.rstrip() for line in text.splitlines()]
    title = lines[0].strip().rstrip(":").strip()
    body: list[str] = []
    for line in lines[1:]:
        if line.strip().startswith(_PAGE_CHROME_ENDINGS):
            break
        if line.strip().startswith(_PAGE_CHROME_PREFIXES):
            continue
        body.append(line)
    # The page's own lead-in to its phone number is replaced by the form's heading.
    while body and (not body[-1].strip() or body[-1].startswith("Transform your")):
        body.pop()
    article, _ = Article.objects.update_or_create(
        slug=slug,
        defaults={
            "title": title,
            "topic": topic,
            "body": "\n".join(body).strip(),
            "is_listed": True,
            "needs_review": False,
            "published_at": timezone.now(),
        },
    )
    return article
