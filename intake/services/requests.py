"""What the holder of a request's link may change on that one request (the pages are
scheduling's, ``scheduling.services.request_link``): less contact, a cancel, and the
cancel's undo. The link went to an address nobody verified, so nothing here allows
anything: discretion only grows, and a cancel is of this request alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from intake.models import Submission
from intake.services.leads import lead_contact_restrict


@dataclass(frozen=True)
class SubmissionCancelled:
    """A request cancelled now: its person's lead, and whether another of their requests
    is still live (then the lead must stay open: the cancel was not theirs to make)."""

    lead_id: int | None
    others_live: bool


def submission_lock(*, submission_id: int) -> Submission | None:
    """The request, locked for the caller's transaction: a cancel and its undo from
    one link never interleave."""
    return Submission.objects.select_for_update().filter(pk=submission_id).first()


def submission_contact_restrict(
    *, submission_id: int, no_voicemail: bool, no_clinic_name: bool
) -> Submission | None:
    """No voicemail and/or no clinic name, on the request and on its lead (only ever
    more discreet). Returns the request (None if unknown), for its phone."""
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None:
        return None
    restrict = {}
    if no_voicemail:
        restrict["voicemail_ok"] = False
    if no_clinic_name:
        restrict["mention_clinic_ok"] = False
    if restrict:
        with transaction.atomic():
            Submission.objects.filter(pk=submission_id).update(**restrict)
            if submission.lead_id:
                lead_contact_restrict(lead_id=submission.lead_id, **restrict)
    return submission


def submission_cancel_record(*, submission_id: int, at: datetime) -> SubmissionCancelled | None:
    """Mark the request cancelled at ``at``; None when it already was (or is unknown)."""
    with transaction.atomic():
        if not Submission.objects.filter(pk=submission_id, cancelled_at__isnull=True).update(
            cancelled_at=at
        ):
            return None
        lead_id = (
            Submission.objects.filter(pk=submission_id).values_list("lead_id", flat=True).first()
        )
        others_live = (
            Submission.objects.filter(lead_id=lead_id, cancelled_at__isnull=True, is_spam=False)
            .exclude(pk=submission_id)
            .exists()
        )
    return SubmissionCancelled(lead_id=lead_id, others_live=others_live)


def submission_cancel_clear(*, submission_id: int) -> bool:
    """The request is live again (its cancel was undone). True if it was cancelled."""
    return bool(
        Submission.objects.filter(pk=submission_id, cancelled_at__isnull=False).update(
            cancelled_at=None
        )
    )


def submission_links_revoke(*, submission_id: int, at: datetime) -> bool:
    """Links to this request issued until ``at`` stop opening."""
    return bool(Submission.objects.filter(pk=submission_id).update(links_revoked_at=at))
