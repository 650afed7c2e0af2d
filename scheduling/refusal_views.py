"""The console's side of a refusal and of texting consent (issue 20): acknowledging a
"previously refused" callback, lifting a refusal when the person asked again, and
sending the one "reply YES to get texts". Shown on the callback page
(``scheduling/_refusal.html``, ``scheduling/_sms_consent.html``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from clinic import roles
from clinic.errors import ApplicationError
from scheduling import services
from scheduling.views.callback import _callback_or_404, _callback_page
from scheduling.views.console import CARE


@require_POST
@roles.role_required(*CARE)
def console_refusal_acknowledge(request: HttpRequest, callback_id: int) -> HttpResponse:
    """The coordinator read the refusal: calls may be logged on this callback."""
    try:
        services.callback_refusal_acknowledge(callback_id=callback_id, user_id=request.user.pk)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.info(request, "Refusal acknowledged. No automated message goes to it.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_POST
@roles.role_required(*CARE)
def console_refusal_lift(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Lift the refusal: "The person asked to be contacted again", with their words."""
    note = request.POST.get("note", "")[:2000]
    try:
        services.lead_refusal_lift(callback_id=callback_id, user_id=request.user.pk, note=note)
    except ApplicationError as error:
        # The form again, the error by the note, the note as typed.
        return _callback_page(
            request,
            _callback_or_404(callback_id),
            errors={"refusal_note": error.message},
            typed={"refusal_note": note},
            status=400,
        )
    messages.success(request, "The refusal is lifted. Texts still need the person's own yes.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_POST
@roles.role_required(*CARE)
def console_sms_consent_invite(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Send the one "reply YES to get texts", after asking the person on the call."""
    try:
        services.lead_sms_consent_invite(callback_id=callback_id, user_id=request.user.pk)
    except ApplicationError as error:
        return _callback_page(
            request,
            _callback_or_404(callback_id),
            errors={"sms_invite": error.message},
            status=400,
        )
    messages.success(request, "Sent. A YES from the phone within a week allows texts.")
    return redirect("scheduling:console-callback", callback_id=callback_id)
