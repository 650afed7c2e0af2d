"""The waitlist's pages: the person's offer, reached by the signed link in its text
(accept, decline, or leave the waitlist), and the coordinators' side in the console
(the list in waitlist order, adding a person from the callback page, removing one)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic import business_time, roles
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from scheduling import links
from scheduling.models import Appointment, Callback
from scheduling.selectors import waitlist as waitlist_selectors
from scheduling.selectors.consultations import Slot
from scheduling.selectors.self_booking import lead_zone
from scheduling.services import SlotTaken, waitlist, waitlist_offers
from scheduling.services.appointment_moves import next_open_slots
from scheduling.services.places import MODALITY_WORDS, modality_place
from scheduling.views.callback import _callback_or_404, _callback_page
from scheduling.views.console import CARE

# --- The person's offer --------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def waitlist_offer(request: HttpRequest, token: str) -> HttpResponse:
    """A time offered to a waiting person: take it (the first to accept gets it), say
    no (they keep their place), or leave the waitlist. The link went only to a phone
    the person proved. An expired or tampered link, an offer someone else took, or one
    that expired answers with a page that says so (404, 409), with the next open times."""
    link = links.waitlist_offer_link(token)
    view = (
        waitlist_selectors.waitlist_offer_view(offer_id=link.offer_id, entry_id=link.entry_id)
        if link
        else None
    )
    # A closed lead, a refusal, or a number changed since the text: the link is dead.
    if view is None or not waitlist_selectors.waitlist_offer_link_opens(view=view):
        return render(request, "scheduling/link_invalid.html", status=404)
    done, error, status = "", "", 200
    next_slots: list[Slot] = []
    action = request.POST.get("action", "") if request.method == "POST" else ""
    ids = {"offer_id": view.offer.pk, "entry_id": view.entry.pk}
    if action == "accept":
        try:
            waitlist_offers.waitlist_offer_accept(**ids)
        except SlotTaken as failure:
            error, status, next_slots = failure.message, failure.status_code, failure.next_slots
        except ApplicationError as failure:
            error, status = failure.message, failure.status_code
        else:
            done = "booked"
    elif action == "decline":
        done = "declined" if waitlist_offers.waitlist_offer_decline(**ids) else ""
    elif action == "leave":
        done = "left" if waitlist_offers.waitlist_offer_leave(**ids) else ""
    if action:
        view = waitlist_selectors.waitlist_offer_view(**ids) or view
    lead = view.entry.lead
    zone = business_time.person_zone(lead_zone(lead))
    discreet = not intake_selectors.lead_contact_preferences(lead_id=lead.pk).mention_clinic_ok
    modality = view.entry.modality or settings.CONSULTATION_DEFAULT_MODALITY
    if view.state in ("taken", "expired") and done not in ("declined", "left"):
        status = 409
        next_slots = next_slots or next_open_slots(clinician_id=None)
    return render(
        request,
        "scheduling/waitlist_offer.html",
        {
            "view": view,
            "when": timezone.localtime(view.offer.starts_at, zone),
            "expires": timezone.localtime(view.offer.expires_at, zone),
            "modality": MODALITY_WORDS[Appointment.Modality(modality)],
            "place": modality_place(modality, discreet=discreet),
            "done": done,
            "error": error,
            "next_slots": [timezone.localtime(slot.starts_at, zone) for slot in next_slots],
            "manage_url": links.appointment_manage_url(appointment_id=view.offer.appointment_id)
            if view.state == "yours" and view.offer.appointment_id
            else "",
        },
        status=status,
    )


# --- The console -----------------------------------------------------------------------


@require_POST
@roles.role_required(*CARE)
def console_waitlist_add(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Put the callback's person on the waitlist (``waitlist.waitlist_add``); refused
    with the error by the form (and what was typed kept) when a time is open soon
    enough to book, or a field is wrong."""
    callback: Callback = _callback_or_404(callback_id)
    typed = {
        "waitlist_reason": request.POST.get("reason", "")[:40],
        "waitlist_earliest": request.POST.get("earliest_date", "")[:10],
        "waitlist_note": request.POST.get("note", "")[: waitlist.NOTE_MAX + 1],
        "waitlist_modality": request.POST.get("modality", "")[:10],
    }
    try:
        raw_date = typed["waitlist_earliest"]
        try:
            earliest = parse_date(raw_date) if raw_date else None
        except ValueError:  # well formed, but no such day (2026-02-30)
            earliest = None
        if raw_date and earliest is None:
            raise ApplicationError(
                "Some fields are not valid.", fields={"earliest_date": ["A date."]}
            )
        checked = waitlist.waitlist_check(
            reason=typed["waitlist_reason"],
            earliest_date=earliest,
            note=typed["waitlist_note"],
            modality=typed["waitlist_modality"],
        )
        waitlist.waitlist_add(
            lead_id=callback.lead_id, request=checked, added_by_id=request.user.pk
        )
    except ApplicationError as error:
        fields = error.fields or {}
        detail = " ".join(problem for problems in fields.values() for problem in problems)
        return _callback_page(
            request,
            callback,
            errors={"waitlist": f"{error.message} {detail}".strip()},
            typed=typed,
            status=error.status_code,
        )
    messages.success(request, "On the waitlist: open times will be offered by text.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_GET
@roles.role_required(*CARE)
def console_waitlist(request: HttpRequest) -> HttpResponse:
    """Everyone waiting, in waitlist order (first added, first offered; a person is
    offered only times from their earliest date on)."""
    entries = list(waitlist_selectors.waitlist_entries_live()[:500])
    if entries:
        intake_services.leads_access_record(
            leads=[entry.lead for entry in entries], what="waitlist"
        )
    labels = dict(waitlist_selectors.waitlist_reasons())
    rows = [
        (
            entry,
            labels.get(entry.reason, entry.reason),
            waitlist_selectors.lead_offer_reachable(lead_id=entry.lead_id),
        )
        for entry in entries
    ]
    return render(request, "scheduling/waitlist.html", {"rows": rows})


@require_POST
@roles.role_required(*CARE)
def console_waitlist_remove(request: HttpRequest, entry_id: int) -> HttpResponse:
    if waitlist.waitlist_remove(entry_id=entry_id, removed_by_id=request.user.pk):
        messages.success(request, "Taken off the waitlist.")
    else:
        messages.error(request, "That person is not on the waitlist.")
    back = request.POST.get("next", "")
    if back.isascii() and back.isdigit():
        return redirect("scheduling:console-callback", callback_id=int(back))
    return redirect("scheduling:console-waitlist")
