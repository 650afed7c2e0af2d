"""The callback page's Call panel: "Call from the clinic's number" (click-to-call,
``services.click_to_call``), how the call goes (polled by htmx while it is live; a
plain page load shows it too, so the form works without JavaScript), and the ``tel:``
link kept as the fallback from the coordinator's own phone. The button is disabled,
saying why, where a call may not be placed (``selectors.click_to_call_blocker``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from clinic import roles
from clinic.errors import ApplicationError
from scheduling import selectors
from scheduling.models import Callback
from scheduling.services import click_to_call

CARE = (roles.COORDINATOR, roles.SUPERVISOR)
PANEL = "scheduling/_call.html"


@dataclass(frozen=True)
class CallPanel:
    callback: Callback
    can_call: bool
    why_not: str  # the disabled button's reason, in the coordinator's words
    why_not_code: str
    progress: selectors.CallProgress | None  # the last call one placed here, if recent
    softphone: bool  # TWILIO_API_KEY/SECRET/TWIML_APP_SID set: "Call from this browser"


def call_panel(*, callback: Callback, user_id: int) -> CallPanel:
    holder = callback.status == Callback.Status.CLAIMED and callback.claimed_by_id == user_id
    if holder:
        blocker = selectors.click_to_call_blocker(callback=callback, user_id=user_id)
    else:
        blocker = ApplicationError(
            "Take this callback to call from the clinic's number.", code="not_holder"
        )
    call = selectors.call_live_for(user_id=user_id, callback_id=callback.pk)
    progress = selectors.call_progress(call=call) if call is not None else None
    softphone = (
        holder
        and selectors.softphone_configured()
        and selectors.click_to_call_blocker(callback=callback, user_id=user_id, browser=True)
        is None
    )
    return CallPanel(
        callback=callback,
        can_call=blocker is None,
        why_not=blocker.message if blocker else "",
        why_not_code=blocker.code if blocker else "",
        progress=progress,
        softphone=softphone,
    )


def _callback(callback_id: int) -> Callback:
    callback = selectors.callback_get(callback_id=callback_id)
    if callback is None:
        raise Http404
    return callback


def _panel(request: HttpRequest, callback_id: int, *, error: str = "") -> HttpResponse:
    panel = call_panel(callback=_callback(callback_id), user_id=request.user.pk)
    return render(request, PANEL, {"call_panel": panel, "call_error": error})


@require_POST
@roles.role_required(*CARE)
def console_call(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Place a click-to-call; htmx gets the panel back, a plain form the page."""
    error = ""
    try:
        click_to_call.callback_call_place(callback_id=callback_id, user_id=request.user.pk)
    except ApplicationError as refused:
        error = refused.message
    if request.headers.get("HX-Request"):
        return _panel(request, callback_id, error=error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Your phone is ringing: answer it and press 1.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_GET
@roles.role_required(*CARE)
def console_call_status(request: HttpRequest, callback_id: int) -> HttpResponse:
    """The panel as it is now (htmx polls it while the call is live)."""
    return _panel(request, callback_id)
