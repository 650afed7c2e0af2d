"""Reads about the recordings of bridged calls (``services.recordings``): what the
callback page shows, which recordings are past their time, which calls should have a
recording the app has not heard of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Call, CallLeg, CallRecording

# How many recordings one run of the retention task deletes at most.
EXPIRE_BATCH = 200
# The sweep asks Twilio about a recorded call this long after it ended (Twilio needs
# a moment to finish a recording), for this long, at most this many calls a run.
SWEEP_AFTER = timedelta(minutes=5)
SWEEP_WINDOW = timedelta(days=2)
SWEEP_BATCH = 100
# A call whose status callbacks were lost never ends for us: swept after this.
SWEEP_UNENDED_AFTER = timedelta(hours=4)


@dataclass(frozen=True)
class RecordingRow:
    """One recording on the callback page: played through the app's own URL (never
    Twilio's), or why it cannot be played any more."""

    pk: int
    created_at: datetime
    duration_seconds: int | None
    coordinator: str
    audio_url: str  # "" once deleted
    deleted_text: str  # "" while it can be played


def callback_recordings(*, callback_id: int) -> list[RecordingRow]:
    """The recordings of the callback's calls, oldest first (one query)."""
    rows = []
    for recording in CallRecording.objects.filter(call__callback_id=callback_id).select_related(
        "call__coordinator", "call__callback__lead"
    ):
        erased = recording.call.callback.lead.anonymised_at is not None
        deleted = recording.deleted_at is not None or erased
        rows.append(
            RecordingRow(
                pk=recording.pk,
                created_at=recording.created_at,
                duration_seconds=recording.duration_seconds,
                coordinator=recording.call.coordinator.get_username(),
                audio_url=""
                if deleted
                else reverse("scheduling:console-recording-audio", args=[recording.pk]),
                deleted_text=recording_deleted_message(recording, erased=erased) if deleted else "",
            )
        )
    return rows


def retention_cutoff(*, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=settings.CALL_RECORDING_RETENTION_DAYS)


def due_for_deletion(*, now: datetime | None = None) -> Q:
    """Recordings to delete at Twilio: older than the retention, or of a person whose
    data was erased (on request or at the end of the lead's retention) whatever age."""
    return Q(deleted_at__isnull=True) & (
        Q(created_at__lte=retention_cutoff(now=now))
        | Q(call__callback__lead__anonymised_at__isnull=False)
    )


def recording_deleted_message(recording: CallRecording, *, erased: bool = False) -> str:
    """Why a recording cannot be played: deleted at Twilio (when, and why), or about to
    be, the person's data having been erased."""
    if recording.deleted_at is None:
        return "The person's data was erased: this recording is being deleted at Twilio."
    deleted_on = timezone.localdate(recording.deleted_at)
    why = (
        "when the person's data was erased"
        if erased
        else f"the clinic keeps call recordings for {settings.CALL_RECORDING_RETENTION_DAYS} days"
    )
    return f"This recording was deleted at Twilio on {deleted_on:%d %b %Y}: {why}."


def call_recording_ids_expired(
    *, now: datetime | None = None, limit: int = EXPIRE_BATCH
) -> list[int]:
    """Recordings still at Twilio that are due for deletion, oldest first."""
    return list(
        CallRecording.objects.filter(due_for_deletion(now=now))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def call_ids_missing_recordings(
    *, now: datetime | None = None, limit: int = SWEEP_BATCH
) -> list[int]:
    """Recorded calls the person answered, over for a few minutes and at most
    ``SWEEP_WINDOW`` old, of which no recording is known: their status callback may
    have been lost."""
    now = now or timezone.now()
    answered = CallLeg.objects.filter(role=CallLeg.Role.PERSON, answered_at__isnull=False)
    over = Q(ended_at__lte=now - SWEEP_AFTER) | Q(
        ended_at__isnull=True, created_at__lte=now - SWEEP_UNENDED_AFTER
    )
    return list(
        Call.objects.filter(
            over,
            recorded=True,
            created_at__gte=now - SWEEP_WINDOW,
            pk__in=answered.values("call_id"),
        )
        .exclude(pk__in=CallRecording.objects.values("call_id"))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
