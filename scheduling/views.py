"""The coordinators' console (server-rendered, refreshed with htmx)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config import roles
from notifications import selectors as notification_selectors
from scheduling import selectors, services
from scheduling.models import Callback


def _queue_context(request: HttpRequest) -> dict:
    return {
        "callbacks": selectors.callback_queue()[:200],
        "counts": selectors.callback_queue_counts(),
        "now": timezone.now(),
    }


@require_GET
@roles.role_required(roles.COORDINATOR, roles.SUPERVISOR)
def console(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request)
    claimed = (
        selectors.callback_queue()
        .filter(
            claimed_by=request.user,
            status=Callback.Status.CLAIMED,
            lease_expires_at__gt=timezone.now(),
        )
        .first()
    )
    context["claimed"] = claimed
    if claimed is not None:
        phone = str(claimed.lead.phone) if claimed.lead.phone else ""
        context["lead_messages"] = notification_selectors.message_list(
            correlation=f"lead:{claimed.lead_id}", limit=20
        )
        context["lead_texts"] = notification_selectors.inbound_list(phone=phone) if phone else []
        context["sms_block"] = notification_selectors.sms_block_get(phone=phone) if phone else None
    return render(request, "scheduling/console.html", context)


@require_GET
@roles.role_required(roles.COORDINATOR, roles.SUPERVISOR)
def console_queue(request: HttpRequest) -> HttpResponse:
    """The queue table alone, polled by the console every few seconds."""
    return render(request, "scheduling/_queue.html", _queue_context(request))


@require_POST
@roles.role_required(roles.COORDINATOR, roles.SUPERVISOR)
def console_claim_next(request: HttpRequest) -> HttpResponse:
    callback = services.callback_claim_next(user_id=request.user.pk)
    if callback is None:
        messages.info(request, "The queue is empty.")
    return redirect("scheduling:console")


@require_POST
@roles.role_required(roles.COORDINATOR, roles.SUPERVISOR)
def console_release(request: HttpRequest, callback_id: int) -> HttpResponse:
    if services.callback_release(callback_id=callback_id, user_id=request.user.pk):
        messages.info(request, "Callback returned to the queue.")
    return redirect("scheduling:console")
