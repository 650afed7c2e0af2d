"""The console's profile page: a member of staff sets, confirms and changes their own
phone for the clinic's calls, and takes instant calls or stops."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic import roles
from clinic.errors import ApplicationError
from scheduling import selectors
from scheduling.services import call_settings

CARE = (roles.COORDINATOR, roles.SUPERVISOR)


@require_GET
@roles.role_required(*CARE)
def console_profile(request: HttpRequest) -> HttpResponse:
    row = selectors.staff_call_settings_get(user_id=request.user.pk)
    now = timezone.now()
    code_pending = bool(row and row.code_hash and row.code_expires_at and row.code_expires_at > now)
    return render(
        request,
        "scheduling/profile.html",
        {
            "call_settings": row,
            "phone": row.phone if row else "",
            "verified": bool(row and row.verified_at),
            "available": bool(row and row.available),
            "code_pending": code_pending,
            "code_digits": call_settings.CODE_DIGITS,
        },
    )


@require_POST
@roles.role_required(*CARE)
def console_profile_phone(request: HttpRequest) -> HttpResponse:
    try:
        row = call_settings.staff_phone_set(
            user_id=request.user.pk, phone=request.POST.get("phone", "")[:40]
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if row.verified_at is not None:
            messages.success(request, "That number is already your confirmed phone.")
        else:
            messages.success(request, "We texted you a code: enter it below to confirm.")
    return redirect("scheduling:console-profile")


@require_POST
@roles.role_required(*CARE)
def console_profile_verify(request: HttpRequest) -> HttpResponse:
    try:
        call_settings.staff_phone_verify(
            user_id=request.user.pk, code=request.POST.get("code", "")[:20]
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Your phone is confirmed.")
    return redirect("scheduling:console-profile")


@require_POST
@roles.role_required(*CARE)
def console_profile_availability(request: HttpRequest) -> HttpResponse:
    available = request.POST.get("available", "") == "true"
    try:
        call_settings.staff_availability_set(user_id=request.user.pk, available=available)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "You are taking instant calls."
            if available
            else "You are no longer taking instant calls.",
        )
    # The queue page has the same toggle: back to where it was pressed.
    back = "console" if request.POST.get("next") == "console" else "console-profile"
    return redirect(f"scheduling:{back}")
