"""A lead's history on the callback page: its timeline, its crisis requests, and what its
requests' links asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from clinic import business_time
from intake import selectors as intake_selectors
from intake.models import Lead, Submission
from notifications import selectors as notification_selectors
from scheduling.models import (
    CallAttempt,
    CrisisDecision,
    RequestLinkChoices,
)
from scheduling.selectors.calls import call_length


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # submission, consent, message, text, attempt
    title: str
    detail: str = ""
    status: str = ""


def lead_timeline(*, lead: Lead) -> list[TimelineEntry]:
    """Everything that happened with a lead, newest first: what they submitted (with
    article and campaign), what they agreed to, what we sent and its delivery status,
    what they texted, and every call attempt."""
    entries: list[TimelineEntry] = []
    for submission in intake_selectors.lead_submissions(lead_id=lead.pk):
        campaign = " / ".join(
            part
            for part in (submission.utm_source, submission.utm_medium, submission.utm_campaign)
            if part
        )
        entries.append(
            TimelineEntry(
                at=submission.created_at,
                kind="submission",
                title=f"Request {submission.reference}"
                + (f" from “{submission.article.title}”" if submission.article else ""),
                detail=" · ".join(
                    part
                    for part in (
                        f"campaign {campaign}" if campaign else "",
                        submission.message,
                    )
                    if part
                ),
                status="spam"
                if submission.is_spam
                else "cancelled by its link"
                if submission.cancelled_at
                else "",
            )
        )
    for consent in intake_selectors.lead_consents(lead_id=lead.pk):
        entries.append(
            TimelineEntry(
                at=consent.created_at,
                kind="consent",
                title=f"{consent.get_scope_display()} consent "
                + ("given" if consent.granted else "not given"),
                detail=f"text {consent.text_version}",
            )
        )
    for message in notification_selectors.message_list(correlation=f"lead:{lead.pk}"):
        entries.append(
            TimelineEntry(
                at=message.created_at,
                kind="message",
                title=f"{message.get_channel_display()} {message.get_purpose_display().lower()}",
                detail=message.body if message.channel == "sms" else message.subject,
                status=message.status + (f" ({message.error_code})" if message.error_code else ""),
            )
        )
    if lead.phone:
        for text in notification_selectors.inbound_list(phone=str(lead.phone)):
            entries.append(
                TimelineEntry(
                    at=text.received_at,
                    kind="text",
                    title=f"Text from the person ({text.get_kind_display().lower()})",
                    detail=text.body,
                )
            )
    decisions = CrisisDecision.objects.filter(callback__lead=lead).select_related("decided_by")
    for decision in decisions:
        retry = ""
        if decision.retry_at:
            when = timezone.localtime(decision.retry_at, business_time.clinic_zone())
            retry = f" at {when:%a %d %b %H:%M}"
        entries.append(
            TimelineEntry(
                at=decision.created_at,
                kind="decision",
                title=f"Supervisor {decision.decided_by.get_username()} decided: "
                f"{decision.get_action_display().lower()}{retry}",
                detail=decision.reason,
            )
        )
    attempts = CallAttempt.objects.filter(callback__lead=lead).select_related("coordinator")
    for attempt in attempts:
        entries.append(
            TimelineEntry(
                at=attempt.created_at,
                kind="attempt",
                title=f"Call by {attempt.coordinator.get_username()}: "
                + ", ".join(
                    what.lower()
                    for what in (
                        attempt.get_result_display(),
                        call_length(attempt.duration_seconds) if attempt.result else "",
                        attempt.get_outcome_display() or "no outcome logged yet",
                    )
                    if what
                ),
                detail=attempt.notes,
            )
        )
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


@dataclass(frozen=True)
class CrisisRequest:
    """A crisis submission as the callback page shows it: what that request says, with
    the phone and email it gave, never as the person's own words (anyone who knows a
    person's number or address can send one)."""

    submission: Submission
    #: The request gave the lead's own number / address (not proof: it can be typed).
    phone_is_leads: bool
    email_is_leads: bool
    #: Where to reach the person first: the number this request gave, else the lead's.
    call_first: Any
    call_first_is_requests: bool


def crisis_requests(*, lead: Lead) -> list[CrisisRequest]:
    """The lead's crisis requests (not spam), newest first, each with its own details."""
    found = []
    for submission in intake_selectors.lead_submissions(lead_id=lead.pk):
        if not submission.is_crisis or submission.is_spam:
            continue
        found.append(
            CrisisRequest(
                submission=submission,
                phone_is_leads=bool(submission.phone_hash)
                and submission.phone_hash == lead.phone_hash,
                email_is_leads=bool(submission.email_hash)
                and submission.email_hash == lead.email_hash,
                call_first=submission.phone or lead.phone or None,
                call_first_is_requests=bool(submission.phone),
            )
        )
    return found


@dataclass(frozen=True)
class RequestChoicesInForce:
    """What holds for one request, as its link's page shows it: only what that request
    and its link said, never the lead's (the link went to an address nobody verified)."""

    no_voicemail: bool
    no_clinic_name: bool
    no_texts: bool
    cancelled: bool
    #: Until when the link's cancel can be undone from the page (None: it cannot).
    undo_until: datetime | None

    @property
    def any(self) -> bool:
        return self.no_voicemail or self.no_clinic_name or self.no_texts or self.cancelled


def request_choices_in_force(*, submission: Submission) -> RequestChoicesInForce:
    """The choices in force for ``submission``: its own no-voicemail and no-clinic-name
    wishes, no texts (no phone, no consent to texts, or asked for on the link), and
    whether it is cancelled, with the undo's deadline while it lasts."""
    choices = RequestLinkChoices.objects.filter(submission_id=submission.pk).first()
    until = choices.undo_until if choices else None
    cancelled = submission.cancelled_at is not None
    return RequestChoicesInForce(
        no_voicemail=not submission.voicemail_ok,
        no_clinic_name=not submission.mention_clinic_ok,
        no_texts=not submission.phone
        or not submission.sms_consent
        or bool(choices and choices.texts_stopped_at),
        cancelled=cancelled,
        undo_until=until if cancelled and until and until > timezone.now() else None,
    )
