"""Funnel rollups of a batch of leads: each lead's change taken as in
``rollups.funnel_rollups_update`` (its contributions after minus before), summed over
the batch per rollup row, and written with one upsert per row, so a burst of new
leads touches each hot day, week and month row once per batch, not once per lead."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Collection

from django.db import DatabaseError, transaction

from intake.models import Lead, Submission
from intake.services.rollups import (
    _LEAD_FIELDS,
    _SUBMISSION_FIELDS,
    Contributions,
    RollupKey,
    _rollups_add,
    lead_funnel_contributions,
)

logger = logging.getLogger(__name__)


def leads_funnel_snapshots(*, lead_ids: Collection[int]) -> dict[int, Contributions]:
    """Each lead's contributions now (``rollups.lead_funnel_snapshot``), in two queries
    for the lot; a lead with no submissions yet contributes nothing."""
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    leads = {lead.pk: lead for lead in Lead.objects.filter(pk__in=ids).only(*_LEAD_FIELDS)}
    submissions: dict[int, list[Submission]] = defaultdict(list)
    for submission in Submission.objects.filter(lead_id__in=ids).only(*_SUBMISSION_FIELDS):
        submissions[submission.lead_id].append(submission)
    return {
        lead_id: lead_funnel_contributions(leads[lead_id], submissions[lead_id])
        if lead_id in leads
        else Counter()
        for lead_id in ids
    }


def funnel_rollups_update_batch(*, before: dict[int, Contributions]) -> None:
    """Add the change the batch made to its leads' contributions (``before`` from
    :func:`leads_funnel_snapshots` before the change), one upsert per rollup row for
    the whole batch. Call it in the batch's transaction, the leads locked. A failure is
    logged, rolled back to a savepoint and left to the nightly rebuild, as for one lead."""
    if not before:
        return
    try:
        with transaction.atomic():
            after = leads_funnel_snapshots(lead_ids=before.keys())
            total: Contributions = Counter()
            for lead_id, counts in after.items():
                total.update(counts)
                total.subtract(before[lead_id])
            delta: dict[RollupKey, dict[str, int]] = defaultdict(dict)
            for (key, field), change in total.items():
                if change:
                    delta[key][field] = change
            _rollups_add(delta)
    except DatabaseError:
        logger.exception("Funnel rollups of a batch of %s leads not updated", len(before))
