"""Admissions steps a lead reaches beside its life stage: screened, insurance verified,
waitlisted (``Lead.screened_at``...).

One entry point, :func:`lead_stage_reach`, for every step and every caller (a screening
recorded, benefits verified, a place on the waitlist): it stamps the first time, moves
the funnel rollups by the difference (so the marketing report counts the step per
article, under its small-cell rules) and queues the outbound webhooks, all in the
caller's transaction, so none of the three happens without the others.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError
from intake.models import Lead
from intake.services.rollups import ADMISSION_STEPS, funnel_rollups_update, lead_funnel_snapshot
from intake.services.webhooks import lead_stage_webhooks_enqueue

SCREENED = "screened"
INSURANCE_VERIFIED = "insurance_verified"
WAITLISTED = "waitlisted"
STEP_TIMESTAMP = dict(ADMISSION_STEPS)


def lead_stage_reach(*, lead_id: int, stage: str, at: datetime | None = None) -> bool:
    """Record that the lead reached the admissions step ``stage`` (``screened``,
    ``insurance_verified`` or ``waitlisted``) at ``at`` (now by default).

    The first time counts; a step reached again (a second screening, a second place on
    the waitlist) changes nothing and returns False, so callers may call it on every
    such event and a replayed task adds nothing. An anonymised lead is not stamped.
    Raises ``ValueError`` for an unknown step (a programming error) and
    ``ApplicationError`` (404) for an unknown lead."""
    stamp = STEP_TIMESTAMP.get(stage)
    if stamp is None:
        raise ValueError(f"unknown admissions step {stage!r}")
    moment = at or timezone.now()
    with transaction.atomic():
        lead = (
            Lead.objects.select_for_update()
            .filter(pk=lead_id)
            .only("pk", stamp, "anonymised_at")
            .first()
        )
        if lead is None:
            raise ApplicationError("No such lead.", code="not_found", status_code=404)
        if getattr(lead, stamp) is not None or lead.anonymised_at is not None:
            return False
        funnel_before = lead_funnel_snapshot(lead_id=lead_id)
        Lead.objects.filter(pk=lead_id).update(**{stamp: moment})
        funnel_rollups_update(lead_id=lead_id, before=funnel_before)
        lead_stage_webhooks_enqueue(lead_id=lead_id, stage=stage, at=moment)
    return True
