"""Twilio's recording status callback of a bridged call (``recordingStatusCallback``
on the Dial that records, ``services.recordings``).

Signed like every Twilio webhook (``X-Twilio-Signature``), naming the call by id
only. A completed recording is kept by its id (never its URL); a repeat of the same
callback changes nothing; any other status, an unknown call or another call's leg is
acknowledged and changes nothing (Twilio must not retry it).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from django.http import HttpRequest, HttpResponse

from notifications.views import twilio_signed
from scheduling.services import recordings


def _seconds(value: str) -> int | None:
    return int(value) if value.isdecimal() else None


def _moment(value: str):
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


@twilio_signed
def call_recording_status(request: HttpRequest, call_id: int) -> HttpResponse:
    """A recording of the call is ready (``RecordingStatus`` completed): keep its id,
    its length and when it started."""
    if request.POST.get("RecordingStatus", "") == "completed":
        recordings.call_recording_store(
            call_id=call_id,
            provider_id=request.POST.get("RecordingSid", ""),
            call_sid=request.POST.get("CallSid", ""),
            duration_seconds=_seconds(request.POST.get("RecordingDuration", "")),
            started_at=_moment(request.POST.get("RecordingStartTime", "")),
        )
    return HttpResponse(status=204)
