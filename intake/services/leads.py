"""Attaching stored submissions to people, confirming their details, moving their life
stages (a submission is checked and stored in ``intake.services.submissions``)."""

from __future__ import annotations

import logging
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from clinic.errors import ApplicationError
from intake.models import Consent, Lead, PhoneType, Submission
from intake.services.rollups import funnel_rollups_update, lead_funnel_snapshot
from intake.services.verification import verification_fields
from intake.services.webhooks import REOPENED, lead_stage_webhooks_enqueue

logger = logging.getLogger(__name__)

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CONTACT_PREFERENCE_DEFAULTS = {"voicemail_ok": False, "mention_clinic_ok": True}

_PHONE_TYPES = {
    getattr(phonenumbers.PhoneNumberType, choice.name): choice.value for choice in PhoneType
}


def phone_type_of(phone: PhoneNumber | None) -> str:
    """The kind of line (``PhoneType``) a number is, or "" without a number."""
    # A parsed number is tested by its digits: its truth value validates and formats it.
    if isinstance(phone, phonenumbers.PhoneNumber):
        if not phone.national_number:
            return ""
    elif not phone:
        return ""
    return _PHONE_TYPES.get(phonenumbers.number_type(phone), PhoneType.UNKNOWN)


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


def lead_attach(*, submission: Submission) -> Lead:
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


def consent_for(*, submission: Submission, lead: Lead) -> Consent:
    """The ledger row (unsaved) of the SMS answer ``submission`` gave for its phone,
    with the request's own time and evidence."""
    return Consent(
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


def submission_attach(*, submission: Submission) -> Lead | None:
    """Attach a stored submission to its person (the worker, inside the routing
    transaction): the open lead, or a new one; record its SMS consent in the ledger,
    with the request's own time and evidence; update the funnel counts. Spam is
    attached to nobody. Idempotent: an attached submission keeps its lead."""
    if submission.lead_id is not None:
        return submission.lead
    if submission.is_spam:
        return None
    lead = lead_attach(submission=submission)
    funnel_before = lead_funnel_snapshot(lead_id=lead.pk)
    Submission.objects.filter(pk=submission.pk).update(lead=lead)
    submission.lead = lead
    if submission.phone:
        consent_for(submission=submission, lead=lead).save()
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


def lead_stage_advance(
    *, lead_id: int, stage: str, reason: str = "", appointment_id: int | None = None
) -> bool:
    """Move a lead forward to ``stage`` and time-stamp it; never backwards, never out of
    ``closed``. Closing needs a reason. Returns False when nothing changed. A change
    is queued for the outbound webhooks (``intake.services.webhooks``), with the
    appointment it came with, if any; "contacting" is not (a claim of the callback,
    not a life stage)."""
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
        lead_stage_webhooks_enqueue(
            lead_id=lead_id, stage=stage, at=now, appointment_id=appointment_id
        )
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
        lead_stage_webhooks_enqueue(
            lead_id=lead_id, stage=stage, at=timezone.now(), event_type=REOPENED
        )
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
