"""Insurance in the console: on a callback's page, recording the lead's insurance, its
verification status (one button each), and using what a request gave on the form;
and the "verifications waiting" list. Coordinators and supervisors, holder or not
(benefits are often verified after the call). Thin: intake's services decide."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from clinic import roles
from clinic.errors import ApplicationError
from intake import services as intake_services
from scheduling import insurance_form
from scheduling.selectors import insurance as insurance_selectors
from scheduling.views.callback import _callback_or_404, _callback_page
from scheduling.views.console import CARE


def _back(callback_id: int) -> HttpResponse:
    return redirect(
        reverse("scheduling:console-callback", args=[callback_id]) + "#insurance-heading"
    )


@sensitive_post_parameters(*insurance_form.FIELD_NAMES)
@require_POST
@roles.role_required(*CARE)
def console_insurance(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Record the lead's insurance as the person gave it (``insurance_record_save``). A
    refused form comes back with each error by its field, what was typed kept (and the
    call notes)."""
    callback = _callback_or_404(callback_id)
    typed = {name: request.POST.get(name, "")[:100] for name in insurance_form.FIELD_NAMES}
    try:
        checked = insurance_form.insurance_request(typed)
        intake_services.insurance_record_save(
            lead_id=callback.lead_id, request=checked, user_id=request.user.pk
        )
    except ApplicationError as error:
        errors = {field: texts[0] for field, texts in (error.fields or {}).items()}
        errors["insurance"] = error.message
        return _callback_page(
            request,
            callback,
            errors=errors,
            typed={**typed, "notes": request.POST.get("notes", "")[:5000]},
            status=error.status_code,
        )
    messages.success(request, "Insurance recorded.")
    return _back(callback_id)


@require_POST
@roles.role_required(*CARE)
def console_insurance_verification(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Set where the verification of benefits stands (``insurance_verification_set``:
    who and when are kept)."""
    callback = _callback_or_404(callback_id)
    try:
        intake_services.insurance_verification_set(
            lead_id=callback.lead_id,
            status=request.POST.get("status", ""),
            user_id=request.user.pk,
        )
    except ApplicationError as error:
        texts = (error.fields or {}).get("status") or [error.message]
        return _callback_page(
            request,
            callback,
            errors={insurance_form.STATUS_FIELD: texts[0]},
            typed={"notes": request.POST.get("notes", "")[:5000]},
            status=error.status_code,
        )
    messages.success(request, "Verification status recorded.")
    return _back(callback_id)


@require_POST
@roles.role_required(*CARE)
def console_insurance_use(request: HttpRequest, callback_id: int) -> HttpResponse:
    """The coordinator checked with the person what one of their requests gave on the
    form: the record takes that payer and member ID (``insurance_from_submission``)."""
    callback = _callback_or_404(callback_id)
    try:
        submission_id = int(request.POST.get("submission_id", ""))
        intake_services.insurance_from_submission(
            lead_id=callback.lead_id, submission_id=submission_id, user_id=request.user.pk
        )
    except ValueError:
        messages.error(request, "Choose a request.")
    except ApplicationError as error:
        fields = error.fields or {}
        messages.error(
            request,
            "What the form gave is no longer accepted: record the insurance below."
            if fields
            else error.message,
        )
    else:
        messages.success(request, "The insurance the person confirmed is recorded.")
    return _back(callback_id)


@require_GET
@roles.role_required(*CARE)
def console_insurance_waiting(request: HttpRequest) -> HttpResponse:
    """The leads whose benefits are still to be verified, the longest waiting first: no
    member IDs or group numbers; the first names shown are a list read on the trail."""
    rows = insurance_selectors.verifications_waiting_rows()
    intake_services.leads_access_record(
        leads=[row.waiting.lead for row in rows], what="insurance verifications waiting"
    )
    return render(request, "scheduling/insurance_waiting.html", {"rows": rows})
