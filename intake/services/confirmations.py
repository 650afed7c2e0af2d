"""Who sends a request's confirmations: the first to claim them, once."""

from __future__ import annotations

from django.utils import timezone

from intake.models import Submission


def submission_confirmation_claim(*, submission_id: int) -> Submission | None:
    """Claim the confirmations of a stored request, for the caller's transaction: the
    first caller (the confirmation task, or routing when that task was lost) gets the
    request (``lead_id`` as attached so far), and the row stays locked until the
    caller's transaction ends, so routing cannot attach it meanwhile; every later
    caller gets None. The caller records the confirmations in the same transaction, so
    a rollback gives the claim back. Spam is never claimed: it gets nothing."""
    claimed = Submission.objects.filter(
        pk=submission_id, confirmed_at__isnull=True, is_spam=False
    ).update(confirmed_at=timezone.now())
    if not claimed:
        return None
    return Submission.objects.get(pk=submission_id)
