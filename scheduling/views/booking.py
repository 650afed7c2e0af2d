"""The person books their own consultation from the link a coordinator texted them
(``/b/<token>/``), and the console's "Text a booking link" button.

No sign-in: the link is the key. It went only to a number the person proved
(``services.self_booking.booking_link_send``) and opens only while the lead still has
that number. The page shows the open times by day in the person's own time zone;
choosing one books it in one conditional write. A link that booked already, or a
lead who has a consultation, goes to that consultation's page instead, where the
person can move or cancel it."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from clinic import business_time, roles
from clinic.audit.events import audit_context_update
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from notifications.models import Message
from scheduling import links
from scheduling.models import Appointment
from scheduling.selectors.self_booking import (
    SlotDay,
    booking_link_appointment,
    lead_zone,
    self_booking_days,
    slot_options,
)
from scheduling.services import self_booking
from scheduling.services.appointment_moves import SlotTaken
from scheduling.services.places import modality_place
from scheduling.views.console import CARE


def slot_choice(raw: str) -> tuple[int, datetime]:
    """The clinician and start of a time chosen on the page ("<id>|<ISO start>").
    Raises ``ApplicationError`` (400) for anything else."""
    try:
        clinician_id, starts_at = raw.split("|", 1)
        moment = parse_datetime(starts_at)
        if moment is None or moment.tzinfo is None:
            raise ValueError
        return int(clinician_id), moment
    except ValueError:
        raise ApplicationError(
            "Choose one of the times offered.",
            code="slot_missing",
            fields={"slot": ["Choose a time."]},
        ) from None


def picker_context(*, tz_name: str, error: ApplicationError | None) -> dict[str, object]:
    """The slot picker's part of a page: the open times by day in the person's zone
    (after a time taken meanwhile, the next open times), the zone's name, and the
    error by its field."""
    days: list[SlotDay]
    if isinstance(error, SlotTaken):
        days = slot_options(error.next_slots, tz_name=tz_name)
    else:
        days = self_booking_days(tz_name=tz_name)
    return {
        "days": days,
        "zone_name": business_time.person_zone(tz_name).key,
        "taken": isinstance(error, SlotTaken),
        "error": error.message if error else "",
        "slot_error": ((error.fields or {}).get("slot") or [""])[0] if error else "",
    }


def _modalities(*, discreet: bool) -> list[tuple[str, str]]:
    """The ways the person may choose, each with what it means for them."""
    choices = []
    for value, _label in Appointment.Modality.choices:
        if value == Appointment.Modality.VIDEO and not settings.VIDEO_ROOM_URL:
            continue
        choices.append((value, modality_place(value, discreet=discreet)))
    return choices


# On the audit trail, every change a person's link makes says so (the rows of the
# appointment, its lead and callback), as a coordinator's says who they are.
PERSON_LINK_CONTEXT = {"actor": "person_link"}


def _manage_redirect(appointment_id: int, *, done: str = "") -> HttpResponse:
    path = links.appointment_manage_path(appointment_id=appointment_id)
    return redirect(f"{path}?done={done}" if done else path)


@never_cache
@require_http_methods(["GET", "POST"])
def booking_page(request: HttpRequest, token: str) -> HttpResponse:
    """Choose a consultation time and how it takes place, and book it."""
    link = links.booking_link(token)
    lead = self_booking.booking_link_lead(link=link) if link else None
    if link is None or lead is None:
        return render(request, "scheduling/link_invalid.html", status=400)
    booked = booking_link_appointment(lead_id=link.lead_id, nonce=link.nonce)
    if booked:
        return _manage_redirect(booked)
    discreet = not intake_selectors.lead_contact_preferences(lead_id=lead.pk).mention_clinic_ok
    error: ApplicationError | None = None
    modality = request.POST.get("modality", "") or settings.CONSULTATION_DEFAULT_MODALITY
    if request.method == "POST":
        audit_context_update(**PERSON_LINK_CONTEXT)
        try:
            clinician_id, starts_at = slot_choice(request.POST.get("slot", ""))
            appointment = self_booking.booking_link_book(
                link=link, clinician_id=clinician_id, starts_at=starts_at, modality=modality
            )
        except ApplicationError as failure:
            if failure.code in ("link_used", "already_booked"):
                booked = booking_link_appointment(lead_id=link.lead_id, nonce=link.nonce)
                if booked:
                    return _manage_redirect(booked)
            error = failure
        else:
            return _manage_redirect(appointment.pk, done="booked")
    return render(
        request,
        "scheduling/booking.html",
        {
            **picker_context(tz_name=lead_zone(lead), error=error),
            "modalities": _modalities(discreet=discreet),
            "modality": modality,
            "modality_error": ((error.fields or {}).get("modality") or [""])[0] if error else "",
        },
        status=error.status_code if error else 200,
    )


@require_POST
@roles.role_required(*CARE)
def console_booking_link(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Text the person a link to choose their own consultation time
    (``services.self_booking.booking_link_send``): refused, with why, for a number not
    proven theirs or one that may not be texted now."""
    try:
        message = self_booking.booking_link_send(callback_id=callback_id, user_id=request.user.pk)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if message.status == Message.Status.SCHEDULED:
            messages.success(request, "Booking link queued: it goes when quiet hours end.")
        else:
            messages.success(request, "Booking link texted.")
    return redirect("scheduling:console-callback", callback_id=callback_id)
