"""Recordings of bridged calls (``CALL_RECORDING``): learning of them, playing them
through the app, and deleting them at Twilio after ``CALL_RECORDING_RETENTION_DAYS``.

Twilio keeps the audio; the app keeps a :class:`~scheduling.models.CallRecording`
row with its id only (never its URL). A recording is learned of by its signed status
callback (:func:`call_recording_store`), or, should that be lost, by the sweep that
asks Twilio for the recordings of recorded calls the person answered
(:func:`call_recordings_collect`). It is played only through
``/console/recordings/<id>/audio/`` (:func:`call_recording_play`), each playback on
the lead's audit trail, and deleted at Twilio once its time is up
(:func:`call_recordings_expire`); a deleted recording is refused with a clear reason.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from clinic.errors import ApplicationError
from intake import services as intake_services
from notifications.backends import TransportError
from notifications.voice import RecordingMedia, VoiceBackend, voice_backend
from scheduling.models import Call, CallLeg, CallRecording
from scheduling.selectors import recordings as recording_selectors

logger = logging.getLogger(__name__)

# Twilio's recording ids: "RE" and 32 hex digits.
RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
# Twilio's "no such resource" (the recording is gone).
NOT_FOUND_CODES = frozenset({"20404", "404"})
# What playback streams: Twilio's MP3 of the recording.
PLAYBACK_FORMAT = "mp3"


def call_recording_webhook_url(*, call_id: int) -> str:
    """The absolute URL Twilio posts a recording's status to (``recordingStatusCallback``
    of the Dial that records). Only the call's id is in it."""
    path = reverse("webhooks:call-recording", kwargs={"call_id": call_id})
    return settings.PUBLIC_BASE_URL + path


def call_recording_store(
    *,
    call_id: int,
    provider_id: str,
    call_sid: str,
    duration_seconds: int | None = None,
    started_at: datetime | None = None,
) -> CallRecording | None:
    """Keep Twilio's recording ``provider_id`` of call ``call_id`` (made on its leg
    ``call_sid``). Idempotent: a repeated callback, or the sweep finding one already
    known, changes nothing but a missing duration. A recording for an unknown call, or
    from a leg the call does not have, is not kept (None). A recording is kept even if
    the call was not meant to be recorded: so that it is deleted in time all the same."""
    if not RECORDING_SID.fullmatch(provider_id or ""):
        return None
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return None
    legs = set(
        CallLeg.objects.filter(call=call, provider_id__isnull=False).values_list(
            "provider_id", flat=True
        )
    )
    if call_sid not in legs:
        logger.warning("recordings.from_another_call", extra={"call": call_id})
        return None
    if not call.recorded:
        logger.warning("recordings.unexpected", extra={"call": call_id})
    recording, created = CallRecording.objects.get_or_create(
        provider_id=provider_id,
        defaults={
            "call": call,
            "duration_seconds": duration_seconds,
            "created_at": started_at or timezone.now(),
        },
    )
    if recording.call_id != call.pk:
        logger.warning("recordings.named_by_another_call", extra={"call": call_id})
        return None
    if not created and recording.duration_seconds is None and duration_seconds is not None:
        CallRecording.objects.filter(pk=recording.pk, duration_seconds__isnull=True).update(
            duration_seconds=duration_seconds
        )
    return recording


def call_recordings_collect(*, call_id: int, backend: VoiceBackend | None = None) -> int:
    """Ask Twilio for the recordings of call ``call_id`` and keep those not known yet
    (the path for a recording whose status callback was lost). A Dial's recording
    belongs to the call that ran the Dial: the member of staff's leg. Returns how many
    are known now; a :class:`TransportError` leaves for the caller to retry."""
    sid = (
        CallLeg.objects.filter(
            call_id=call_id, role=CallLeg.Role.COORDINATOR, provider_id__isnull=False
        )
        .values_list("provider_id", flat=True)
        .first()
    )
    if sid is None:
        return 0
    found = (backend or voice_backend()).call_recordings(sid)
    kept = 0
    for recording in found:
        if call_recording_store(
            call_id=call_id,
            provider_id=recording.provider_id,
            call_sid=recording.call_id or sid,
            duration_seconds=recording.duration_seconds,
            started_at=recording.created_at,
        ):
            kept += 1
    return kept


def call_recordings_sweep(*, now: datetime | None = None) -> int:
    """Collect the recordings of calls that should have one and have none yet. A call
    Twilio cannot be asked about now is asked again next run. Returns how many
    recordings were found."""
    backend = voice_backend()
    found = 0
    for call_id in recording_selectors.call_ids_missing_recordings(now=now):
        try:
            found += call_recordings_collect(call_id=call_id, backend=backend)
        except TransportError as error:
            logger.warning(
                "recordings.sweep_failed",
                extra={"call": call_id, "code": error.code, "permanent": error.permanent},
            )
    return found


# --- Retention -----------------------------------------------------------------------


def call_recording_expire(
    *, recording_id: int, now: datetime | None = None, backend: VoiceBackend | None = None
) -> bool:
    """Delete one recording due for deletion (past its retention, or of a person whose
    data was erased) at Twilio and mark it deleted. Twilio
    answering that it has no such recording counts as deleted. True if deleted now;
    False if it is not due, already deleted, or being deleted by another worker. A
    :class:`TransportError` leaves it as it was, for the caller to retry."""
    now = now or timezone.now()
    with transaction.atomic():
        recording = (
            # The recording's row only, not the call, callback and lead it is joined to.
            CallRecording.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(recording_selectors.due_for_deletion(now=now), pk=recording_id)
            .first()
        )
        if recording is None:
            return False
        # False: already gone at Twilio (a 404), which is what we wanted.
        (backend or voice_backend()).recording_delete(recording.provider_id)
        recording.deleted_at = now
        recording.save(update_fields=["deleted_at"])
    return True


@dataclass(frozen=True)
class ExpireResult:
    deleted: int = 0
    # Twilio could not be reached or asked us to wait: retry soon.
    transient: int = 0
    # Twilio refused (credentials, permissions): left for the next run, logged.
    refused: int = 0
    # More were due than one batch deletes.
    more: bool = False


def call_recordings_expire(
    *, now: datetime | None = None, limit: int = recording_selectors.EXPIRE_BATCH
) -> ExpireResult:
    """Delete at Twilio, through one connection, up to ``limit`` recordings past
    ``CALL_RECORDING_RETENTION_DAYS``. Idempotent: run it as often as you like."""
    now = now or timezone.now()
    due = recording_selectors.call_recording_ids_expired(now=now, limit=limit + 1)
    backend = voice_backend()
    deleted = transient = refused = 0
    for recording_id in due[:limit]:
        try:
            deleted += call_recording_expire(recording_id=recording_id, now=now, backend=backend)
        except TransportError as error:
            if error.permanent:
                refused += 1
            else:
                transient += 1
            logger.warning(
                "recordings.delete_failed",
                extra={"recording": recording_id, "code": error.code, "permanent": error.permanent},
            )
    return ExpireResult(
        deleted=deleted, transient=transient, refused=refused, more=len(due) > limit
    )


# --- Playback ------------------------------------------------------------------------


def call_recording_play(*, recording_id: int) -> RecordingMedia:
    """The audio of a recording for the current member of staff (the caller checks the
    role), fetched from Twilio through the app, and the playback recorded on the
    lead's audit trail (who, which recording, when; never the audio). A recording
    deleted, found gone at Twilio, or of a person whose data was erased is refused
    with 410 and why; Twilio unreachable with 503 (nothing is recorded then: nothing
    was played)."""
    recording = (
        CallRecording.objects.select_related("call__callback__lead").filter(pk=recording_id).first()
    )
    if recording is None:
        raise ApplicationError("No such recording.", code="not_found", status_code=404)
    erased = recording.call.callback.lead.anonymised_at is not None
    if recording.deleted_at is not None or erased:
        raise ApplicationError(
            recording_selectors.recording_deleted_message(recording, erased=erased),
            code="recording_deleted",
            status_code=410,
        )
    try:
        media = voice_backend().recording_fetch(recording.provider_id, media_format=PLAYBACK_FORMAT)
    except TransportError as error:
        if error.permanent and error.code in NOT_FOUND_CODES:
            CallRecording.objects.filter(pk=recording.pk, deleted_at__isnull=True).update(
                deleted_at=timezone.now()
            )
            raise ApplicationError(
                "This recording is no longer at Twilio and cannot be played.",
                code="recording_deleted",
                status_code=410,
            ) from error
        logger.warning(
            "recordings.fetch_failed",
            extra={"recording": recording.pk, "code": error.code, "permanent": error.permanent},
        )
        raise ApplicationError(
            "The recording cannot be fetched from Twilio just now. Try again in a minute.",
            code="provider_unavailable",
            status_code=503,
        ) from error
    callback = recording.call.callback
    intake_services.lead_access_record(
        lead=callback.lead,
        what="call recording",
        recording=recording.pk,
        call=recording.call_id,
        callback=callback.pk,
    )
    return media
