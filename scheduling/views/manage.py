"""Pages for the person, reached by the signed links in their emails: their request
(less contact, or cancel it, with an undo) and their consultation (confirm, cancel,
ask to reschedule). No sign-in: the link is the key, and it can only restrict."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinic import business_time, roles
from clinic.audit.events import audit_context_update
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from scheduling import links, selectors, services
from scheduling.models import Appointment
from scheduling.selectors.self_booking import lead_zone
from scheduling.services import self_booking
from scheduling.services.places import appointment_place
from scheduling.views import booking as booking_views

CARE = (roles.COORDINATOR, roles.SUPERVISOR)
# The session key naming the attempt just logged, for the console's banner (an id, so
# no name travels in the messages cookie).
LOGGED_KEY = "console_logged_attempt"


@never_cache
@require_http_methods(["GET", "POST"])
def request_manage(request: HttpRequest, token: str) -> HttpResponse:
    """The page of a confirmation email's link: make contact more restrictive, or
    cancel that one request (asked once more first) and undo that for 24 hours. The
    address it went to was never verified, so the page shows nothing of the person
    (no name, phone or email, nothing of their lead): only the choices in force for
    this request, and it can only restrict (``services.request_link``)."""
    link = links.request_link(token)
    submission = intake_selectors.submission_get(submission_id=link.submission_id) if link else None
    # Bound to the address as it is now: an erased or corrected email closes the link.
    if submission is None or not link.opens_for(
        email=submission.email, revoked_at=submission.links_revoked_at
    ):
        return render(request, "scheduling/link_invalid.html", status=404)
    done, error, status = "", "", 200
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "cancel" and submission.cancelled_at is None:
        done = "confirm_cancel"  # nothing changes until the person confirms
    elif action == "cancel_confirmed":
        services.request_link_cancel(submission_id=submission.pk)
        done = "cancelled"
    elif action == "undo":
        try:
            services.request_link_restore(submission_id=submission.pk)
        except ApplicationError as failure:
            error, status = failure.message, failure.status_code
        else:
            done = "restored"
    elif action == "restrict":
        services.request_link_restrict(
            submission_id=submission.pk,
            no_voicemail="no_voicemail" in request.POST,
            no_clinic_name="no_clinic_name" in request.POST,
            stop_texts="stop_texts" in request.POST,
        )
        done = "saved"
    if action:
        submission = intake_selectors.submission_get(submission_id=submission.pk)
    in_force = selectors.request_choices_in_force(submission=submission)
    undo_until = in_force.undo_until
    return render(
        request,
        "scheduling/request_manage.html",
        {
            "in_force": in_force,
            "undo_until": timezone.localtime(
                undo_until, business_time.person_zone(submission.timezone)
            )
            if undo_until
            else None,
            "has_phone": bool(submission.phone),
            "done": done,
            "error": error,
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def appointment_manage(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm, cancel (asked once more first: one tap on a phone must not lose the
    time), move to another open time (the same picker as the booking page:
    ``services.self_booking.appointment_self_move``), or ask a coordinator for
    another time. A time taken meanwhile comes back with the next open times (409),
    one never offered with the error by the field (400); nothing changes then."""
    appointment_id = links.appointment_id(token)
    appointment = (
        selectors.appointment_get(appointment_id=appointment_id) if appointment_id else None
    )
    if appointment is None:
        return render(request, "scheduling/link_invalid.html", status=404)
    # After a redirect from the booking page: say it is booked.
    done = "booked" if request.GET.get("done") == "booked" else ""
    error: ApplicationError | None = None
    if request.method == "POST":
        audit_context_update(**booking_views.PERSON_LINK_CONTEXT)
        action = request.POST.get("action", "")
        if action == "confirm" and services.appointment_confirm(appointment_id=appointment.pk):
            done = "confirmed"
        elif action == "cancel" and appointment.status in Appointment.ACTIVE:
            done = "confirm_cancel"  # nothing changes until the person says yes
        elif action == "cancel_confirmed" and services.appointment_cancel(
            appointment_id=appointment.pk, by_person=True
        ):
            done = "cancelled"
        elif action == "reschedule" and services.appointment_reschedule_request(
            appointment_id=appointment.pk
        ):
            done = "reschedule"
        elif action == "move":
            try:
                clinician_id, starts_at = booking_views.slot_choice(request.POST.get("slot", ""))
                self_booking.appointment_self_move(
                    appointment_id=appointment.pk, clinician_id=clinician_id, starts_at=starts_at
                )
            except ApplicationError as failure:
                error = failure
            else:
                done = "moved"
        appointment = selectors.appointment_get(appointment_id=appointment.pk)
    active = appointment.status in Appointment.ACTIVE
    zone = lead_zone(appointment.lead)
    picker = (
        booking_views.picker_context(tz_name=zone, error=error)
        if active
        else {"error": error.message if error else ""}
    )
    return render(
        request,
        "scheduling/appointment_manage.html",
        {
            **picker,
            "appointment": appointment,
            "when": timezone.localtime(appointment.starts_at, business_time.person_zone(zone)),
            "active": active,
            "done": done,
            "place": appointment_place(
                appointment,
                discreet=not intake_selectors.lead_contact_preferences(
                    lead_id=appointment.lead_id
                ).mention_clinic_ok,
            ),
        },
        status=error.status_code if error else 200,
    )
