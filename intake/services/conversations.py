"""The speed-to-lead clock on the lead: its first outreach and its first conversation.

Scheduling decides what counts (a bridged call answered by the person for 30 s or more,
an attempt logged as reached, a two-way text exchange with someone who chose texts:
``scheduling.services.conversations``) and tells intake here. Intake keeps only the
moments, on the lead itself, so that its own reports (per article, for marketing) can be
computed without knowing scheduling.

Both writes are one conditional ``UPDATE``: the earliest moment wins, whatever order the
events arrive in (a late webhook, a backfill, a retried task), and repeating one changes
nothing.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from intake.models import Lead

CONVERSATION_VIA = frozenset(Lead.ConversationVia.values)


def lead_attempt_record(*, lead_id: int, at: datetime) -> bool:
    """The clinic reached out to the lead at ``at`` (a call placed, an attempt logged, a
    text from a coordinator). Keeps the earliest; True if this moved the clock."""
    return bool(
        Lead.objects.filter(pk=lead_id)
        .filter(Q(first_attempt_at__isnull=True) | Q(first_attempt_at__gt=at))
        .update(first_attempt_at=at)
    )


def lead_conversation_record(*, lead_id: int, at: datetime, via: str, by_id: int | None) -> bool:
    """The lead had a conversation with the clinic at ``at`` (``via`` one of
    ``Lead.ConversationVia``), with member of staff ``by_id`` if known. The first wins:
    only an earlier moment replaces a recorded one, so events delivered out of order
    settle on the same answer, and a repeat is a no-op. A conversation is an attempt
    too (``first_attempt_at`` is never later than it). True if this moved the clock."""
    if via not in CONVERSATION_VIA:
        raise ValueError(f"Unknown conversation channel {via!r}")
    lead_attempt_record(lead_id=lead_id, at=at)
    return bool(
        Lead.objects.filter(pk=lead_id)
        .filter(Q(first_conversation_at__isnull=True) | Q(first_conversation_at__gt=at))
        .update(
            first_conversation_at=at,
            first_conversation_via=via,
            first_conversation_by_id=by_id,
        )
    )
