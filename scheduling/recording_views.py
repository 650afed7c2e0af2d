"""Playing a call's recording in the console: the audio streams through the app, so
no Twilio URL ever reaches a page, and nothing lets a browser or proxy keep it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from clinic import roles
from clinic.errors import ApplicationError
from scheduling.services import recordings

CARE = (roles.COORDINATOR, roles.SUPERVISOR)
AUDIO = "audio/mpeg"


def _never_kept(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store, private, max-age=0"
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    return response


@require_GET
@roles.role_required(*CARE)
def console_recording_audio(request: HttpRequest, recording_id: int) -> HttpResponse:
    """The recording's MP3, for the care team who may read the lead (the callback
    page's roles); each playback is on the lead's audit trail. A deleted recording
    answers 410 with why, Twilio unreachable 503: as plain text the page can show."""
    try:
        media = recordings.call_recording_play(recording_id=recording_id)
    except ApplicationError as error:
        response = HttpResponse(
            error.message, status=error.status_code, content_type="text/plain; charset=utf-8"
        )
        if error.status_code == 503:
            response["Retry-After"] = "60"
        return _never_kept(response)
    response = HttpResponse(media.content, content_type=AUDIO)
    response["Content-Length"] = str(len(media.content))
    response["Content-Disposition"] = f'inline; filename="recording-{recording_id}.mp3"'
    # One whole answer per playback (each one audited), not ranges fetched piecemeal.
    response["Accept-Ranges"] = "none"
    return _never_kept(response)
