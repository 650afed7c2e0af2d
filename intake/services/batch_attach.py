"""Stored submissions claimed and attached to their people in batches (scheduling's
batch router, ``scheduling.services.routing_batch``), with set-based writes.

One batch is one transaction: :func:`submissions_claim` locks up to N unprocessed
submissions no other router holds; :func:`submission_attach_batched` matches each to
its person's open lead (one by one, in claim order: the lead a submission makes is
there for the next one of the same person); :func:`submissions_attach_flush` writes
what the batch decided in a few statements (the consent ledger rows in one insert,
every submission's lead and ``processed_at`` in one UPDATE); and
:func:`submissions_attach_rollups` adds the funnel's change once per rollup row.
The result is what :func:`intake.services.leads.submission_attach` and
``submission_mark_processed`` make for each submission in turn.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from intake.models import Consent, Lead, Submission
from intake.services.leads import consent_for, lead_attach
from intake.services.rollups import Contributions
from intake.services.rollups_batch import funnel_rollups_update_batch, leads_funnel_snapshots


@dataclass
class AttachBatch:
    """What one batch decided before it is written: the lead of each submission it
    attached, their consent rows, and the funnel counts of the leads before."""

    leads: dict[int, int] = field(default_factory=dict)
    consents: dict[int, Consent] = field(default_factory=dict)
    before: dict[int, Contributions] = field(default_factory=dict)


_CRISIS = ExpressionWrapper(Q(in_crisis=True) | Q(crisis_language=True), BooleanField())


def submissions_claim(
    *,
    limit: int,
    submission_ids: Collection[int] | None = None,
    exclude_ids: Collection[int] = (),
) -> list[Submission]:
    """Lock up to ``limit`` unprocessed submissions that no other transaction holds
    (``FOR UPDATE SKIP LOCKED``), crisis requests first, then the oldest. Call it inside
    the batch's transaction: the locks last until it ends, so two routers never take
    the same submission. Named ones (``submission_ids``) are waited for instead of
    skipped, as the one-submission path always did: a caller that routes a submission
    a batch holds gets nothing once that batch has committed it, not a miss meanwhile."""
    claim = Submission.objects.filter(processed_at__isnull=True)
    if submission_ids is not None:
        claim = claim.filter(pk__in=list(submission_ids))
    elif settings.ROUTING_CONFIRMATION_GRACE:
        # A request whose confirmation task has not claimed it yet is left to that task
        # for a moment: a batch holding its row would make the text wait for the whole
        # batch. The task kicks the router once it has confirmed; a lost task is made
        # good by the router once the moment has passed.
        claim = claim.filter(
            Q(confirmed_at__isnull=False)
            | Q(is_spam=True)
            | Q(created_at__lt=timezone.now() - settings.ROUTING_CONFIRMATION_GRACE)
        )
    if exclude_ids:
        claim = claim.exclude(pk__in=list(exclude_ids))
    claim = claim.select_for_update(
        skip_locked=submission_ids is None, of=("self",)
    ).select_related("lead")
    return list(claim.order_by(_CRISIS.desc(), "created_at", "pk")[:limit])


def submission_attach_batched(*, batch: AttachBatch, submission: Submission) -> Lead | None:
    """The lead ``submission`` goes to (``leads.lead_attach``: matched by phone and
    email, locked, more discreet only, flagged for review when the form differs), its
    consent row kept for the flush. Spam goes to nobody; an attached submission keeps
    its lead. The submission's own row is written by :func:`submissions_attach_flush`."""
    if submission.lead_id is not None:
        return submission.lead
    if submission.is_spam:
        return None
    lead = lead_attach(submission=submission)
    batch.leads[submission.pk] = lead.pk
    if submission.phone:
        batch.consents[submission.pk] = consent_for(submission=submission, lead=lead)
    return lead


def submissions_attach_flush(*, batch: AttachBatch, submissions: Collection[Submission]) -> None:
    """Write the batch: the consent rows of the attached submissions in one insert, and
    every one of ``submissions`` marked processed (with its lead, for those the batch
    attached) in one UPDATE. Takes the funnel counts of their leads first."""
    batch.before = leads_funnel_snapshots(lead_ids=set(batch.leads.values()))
    Consent.objects.bulk_create(list(batch.consents.values()))
    now = timezone.now()
    _submissions_stamp(
        processed_at=now,
        leads={submission.pk: batch.leads.get(submission.pk) for submission in submissions},
    )
    for submission in submissions:
        submission.processed_at = now
        if submission.pk in batch.leads:
            submission.lead_id = batch.leads[submission.pk]


def _submissions_stamp(*, processed_at: object, leads: dict[int, int | None]) -> None:
    """One UPDATE: each submission processed at ``processed_at`` and, where given, its
    lead (a submission attached before keeps the one it has)."""
    if not leads:
        return
    if connection.vendor != "postgresql":
        for pk, lead_id in leads.items():
            update: dict[str, object] = {"processed_at": processed_at}
            if lead_id is not None:
                update["lead_id"] = lead_id
            Submission.objects.filter(pk=pk).update(**update)
        return
    table = connection.ops.quote_name(Submission._meta.db_table)
    rows = ", ".join(["(%s::bigint, %s::bigint)"] * len(leads))
    params: list[object] = [processed_at]
    for pk, lead_id in leads.items():
        params += [pk, lead_id]
    with connection.cursor() as cursor:
        cursor.execute(
            # The table's name comes from the model; every value is a parameter.
            f"UPDATE {table} AS s SET processed_at = %s, "  # noqa: S608
            f"lead_id = COALESCE(v.lead_id, s.lead_id) FROM (VALUES {rows}) AS v (id, lead_id) "
            "WHERE s.id = v.id",
            params,
        )


def submissions_unprocess(*, submission_ids: Collection[int]) -> None:
    """Leave submissions whose routing failed after the flush to the sweep: not
    processed. Their lead and consent stay (attaching again is a no-op)."""
    if submission_ids:
        Submission.objects.filter(pk__in=list(submission_ids)).update(processed_at=None)


def submissions_attach_rollups(*, batch: AttachBatch) -> None:
    """The funnel's change for the leads the batch attached submissions to, one upsert
    per rollup row (``rollups_batch.funnel_rollups_update_batch``)."""
    funnel_rollups_update_batch(before=batch.before)
