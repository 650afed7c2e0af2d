"""A screening recorded during the call (intake stores it, encrypted): when PHQ-9's
self-harm question is answered above 0, the crisis protocol opens in the same
transaction (``crisis.callback_crisis_open``), so nobody commits a crisis answer that
the queue does not yet show as urgent. The lead is marked "screened" in it too (the
first time: ``intake.services.lead_stage_reach``, the funnel and the webhooks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction

from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Screening
from intake.services import ScreeningRequest
from scheduling.models import Callback
from scheduling.services.callback_state import callback_held
from scheduling.services.crisis import callback_crisis_open


def callback_screenings_record(
    *, callback_id: int, user_id: int, requests: Sequence[ScreeningRequest]
) -> list[Screening]:
    """The holder of ``callback_id`` records the screenings the person answered (one
    per instrument), all or none; if one opens the crisis protocol, the callback
    becomes urgent and a supervisor is alerted at once. Raises ``ApplicationError``
    (409 ``not_holder`` / ``callback_closed``) for anyone but the holder."""
    if not requests:
        raise ApplicationError("Answer every question of PHQ-9 or GAD-7 (or both).")
    with transaction.atomic():
        callback = callback_held(callback_id=callback_id, user_id=user_id)
        stored = [
            intake_services.screening_store(
                lead_id=callback.lead_id, request=request, user_id=user_id
            )
            for request in requests
        ]
        crisis = [screening.created_at for screening in stored if screening.opens_crisis]
        if crisis:
            callback_crisis_open(callback, now=min(crisis))
        # Last: it locks the lead, after the callback (the order of every write path).
        intake_services.lead_stage_reach(
            lead_id=callback.lead_id,
            stage=intake_services.SCREENED,
            at=min(screening.created_at for screening in stored),
        )
    return stored


def _live_callback_locked(*, lead_id: int, now: datetime) -> Callback:
    """The lead's live callback, locked; if it has none (every call was closed), a new
    one from its latest request, so a crisis is never left without a call to make."""
    live = [Callback.Status.OPEN, Callback.Status.CLAIMED]
    callback = Callback.objects.select_for_update().filter(lead_id=lead_id, status__in=live).first()
    if callback is not None:
        return callback
    submission = intake_selectors.lead_submissions(lead_id=lead_id).first()
    try:
        with transaction.atomic():
            return Callback.objects.create(
                lead_id=lead_id,
                submission=submission,
                due_at=now,
                original_due_at=now,
                is_urgent=True,
            )
    except IntegrityError:
        # Another request opened one meanwhile (one live callback per lead): that one.
        return Callback.objects.select_for_update().get(lead_id=lead_id, status__in=live)


def lead_screening_record(*, lead_id: int, user_id: int, request: ScreeningRequest) -> Screening:
    """Record one screening of ``lead_id`` (the API: care staff, no claim needed). If it
    opens the crisis protocol, the lead's live callback (or a new one) becomes urgent
    and a supervisor is alerted, in the same transaction."""
    with transaction.atomic():
        screening = intake_services.screening_store(
            lead_id=lead_id, request=request, user_id=user_id
        )
        if screening.opens_crisis:
            callback = _live_callback_locked(lead_id=lead_id, now=screening.created_at)
            callback_crisis_open(callback, now=screening.created_at)
        intake_services.lead_stage_reach(
            lead_id=lead_id, stage=intake_services.SCREENED, at=screening.created_at
        )
    return screening
