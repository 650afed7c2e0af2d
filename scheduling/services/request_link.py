"""What the link in a confirmation email may do to its one request, and its undo.

The link went to an address nobody verified (``scheduling.links``), so it may only make
contact more restrictive: less contact (no voicemail, no clinic name, no texts), or
cancel the request. The page asks once more before a cancel (a confirmation step on
the server, not a script's dialog), and the cancel can be undone from the same page for
``UNDO_WINDOW``.

What an undo restores, and only that: the request (no longer cancelled) and, when the
cancel closed the person's lead because no other request of theirs was live, the lead
at the stage it had and the callback that cancel cancelled, open in the queue again
(due again by the speed-to-lead clock from the undo when its time has passed). Never a
consultation the cancel cancelled (the slot may be gone; the person books again with a
coordinator), nor anything closed or cancelled by anyone else: a lead closed since by
someone else, or replaced by a newer lead for the same phone or email, stays as it is.
Every change is on the audit trail (``RequestLinkChoices``, ``Submission``, ``Lead``
and ``Callback`` events, in the context of the link's request).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clinic import business_time
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from scheduling.models import Appointment, Callback, RequestLinkChoices
from scheduling.services.consultations import submission_cancel, submission_restrict

UNDO_WINDOW = RequestLinkChoices.UNDO_WINDOW
_LIVE = [Callback.Status.OPEN, Callback.Status.CLAIMED]


def request_link_restrict(
    *, submission_id: int, no_voicemail: bool, no_clinic_name: bool, stop_texts: bool
) -> None:
    """Less contact for one request (``submission_restrict``), and its "no texts"
    remembered for the page (the opt-out itself belongs to the phone)."""
    with transaction.atomic():
        submission_restrict(
            submission_id=submission_id,
            no_voicemail=no_voicemail,
            no_clinic_name=no_clinic_name,
            stop_texts=stop_texts,
        )
        if stop_texts and intake_selectors.submission_has_phone(submission_id=submission_id):
            choices, _ = RequestLinkChoices.objects.get_or_create(submission_id=submission_id)
            if choices.texts_stopped_at is None:
                choices.texts_stopped_at = timezone.now()
                choices.save(update_fields=["texts_stopped_at", "updated_at"])


def _lead_stage(lead_id: int | None) -> str:
    return intake_selectors.lead_stage(lead_id=lead_id)


def request_link_cancel(*, submission_id: int) -> bool:
    """Cancel one request from its link (``submission_cancel``: its lead closes only
    when no other request of the person's is live) and record what that changed, for
    the undo. Returns False when it was already cancelled."""
    now = timezone.now()
    with transaction.atomic():
        # Locked: a cancel and an undo of one request never interleave.
        submission = intake_services.submission_lock(submission_id=submission_id)
        if submission is None or submission.cancelled_at is not None:
            return False
        lead_id = submission.lead_id
        stage_before = _lead_stage(lead_id)
        live_callback = (
            Callback.objects.filter(lead_id=lead_id, status__in=_LIVE)
            .values_list("pk", flat=True)
            .first()
        )
        active = set(
            Appointment.objects.filter(lead_id=lead_id, status__in=Appointment.ACTIVE).values_list(
                "pk", flat=True
            )
        )
        if not submission_cancel(submission_id=submission_id):
            return False
        closed_it = stage_before not in ("", Lead.Stage.CLOSED) and (
            _lead_stage(lead_id) == Lead.Stage.CLOSED
        )
        cancelled_callback = (
            live_callback
            if live_callback
            and Callback.objects.filter(pk=live_callback, status=Callback.Status.CANCELLED).exists()
            else None
        )
        still_active = Appointment.objects.filter(pk__in=active, status__in=Appointment.ACTIVE)
        RequestLinkChoices.objects.update_or_create(
            submission_id=submission_id,
            defaults={
                "cancelled_at": now,
                "lead_stage_before": stage_before if closed_it else "",
                "callback_id": cancelled_callback,
                "consultations_cancelled": len(active) - still_active.count(),
            },
        )
    return True


def request_link_restore(*, submission_id: int) -> None:
    """Undo the cancel made from this request's link within ``UNDO_WINDOW``: what it
    changed and nothing more (see the module's docstring), in one transaction.

    The request is always restored. The lead and callback come back only as that cancel
    left them: a lead closed since by someone else stays closed (their decision stands),
    and one a newer lead has replaced for the same phone or email stays closed (that
    lead's callback reaches the person). Either way the answer is the same, so the page
    tells a link's holder nothing about the person's other requests. Raises
    ``ApplicationError`` (409) when there is no cancel from this link to undo, or its
    window has passed."""
    now = timezone.now()
    with transaction.atomic():
        submission = intake_services.submission_lock(submission_id=submission_id)
        choices = (
            RequestLinkChoices.objects.select_for_update()
            .filter(submission_id=submission_id)
            .first()
        )
        until = choices.undo_until if choices else None
        if submission is None or submission.cancelled_at is None or until is None:
            raise ApplicationError(
                "This request is not cancelled.", code="request_not_cancelled", status_code=409
            )
        if now > until:
            raise ApplicationError(
                "A cancelled request can be restored for 24 hours. To ask again, call us or "
                "send the form again.",
                code="request_undo_expired",
                status_code=409,
            )
        reopened = bool(choices.lead_stage_before) and intake_services.lead_reopen(
            lead_id=submission.lead_id, stage=choices.lead_stage_before
        )
        if reopened and choices.callback_id:
            _callback_restore(callback_id=choices.callback_id, now=now)
        intake_services.submission_cancel_clear(submission_id=submission_id)
        choices.cancelled_at = None
        choices.lead_stage_before = ""
        choices.callback = None
        choices.restored_at = now
        choices.save()


def _callback_restore(*, callback_id: int, now: datetime) -> None:
    """The callback the cancel cancelled, open again, keeping its place in the queue
    (``original_due_at``); a time that has passed becomes the speed-to-lead clock from
    now (a crisis stays due at once), and its escalation starts over from there. Left
    as it is when it is no longer cancelled or the lead has another live callback."""
    callback = (
        Callback.objects.select_for_update()
        .select_related("lead")
        .filter(pk=callback_id, status=Callback.Status.CANCELLED)
        .first()
    )
    if callback is None:
        return
    if Callback.objects.filter(lead_id=callback.lead_id, status__in=_LIVE).exists():
        return
    update = {"status": Callback.Status.OPEN, "closed_at": None, "claimed_by": None}
    if callback.due_at < now and not callback.is_urgent:
        update["due_at"] = business_time.callback_due_at(
            submitted_at=now, best_time=callback.lead.best_time, tz_name=callback.lead.timezone
        )
        update["escalation_level"] = 0
    Callback.objects.filter(pk=callback_id).update(**update)
