"""One callback's page in the console and what a coordinator does on it: the call's
outcome and its undo, the person's details confirmed, a screening, texts and emails, a
booking (the insurance section's actions are in ``scheduling.views.insurance``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from clinic import business_time, roles
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from notifications import selectors as notification_selectors
from scheduling import (
    call_views,
    console_page,
    insurance_form,
    screening_form,
    selectors,
    services,
)
from scheduling.models import Appointment, Callback
from scheduling.selectors import recordings as recording_selectors
from scheduling.selectors import self_booking as self_booking_selectors
from scheduling.selectors import waitlist as waitlist_selectors
from scheduling.views.console import CARE, LOGGED_KEY

SOFTPHONE_CSP = {
    "connect-src": ["https://*.twilio.com", "wss://*.twilio.com"],
    "media-src": ["https://sdk.twilio.com"],
}


@dataclass(frozen=True)
class ThreadText:
    """One text of the SMS conversation with the person, either way."""

    at: datetime
    from_person: bool
    body: str
    status: str = ""


def _sms_thread(callback: Callback) -> list[ThreadText]:
    """The texts we sent the person and those they sent us, oldest first."""
    lead = callback.lead
    texts = [
        ThreadText(
            at=message.created_at, from_person=False, body=message.body, status=message.status
        )
        for message in notification_selectors.message_list(correlation=f"lead:{lead.pk}")
        if message.channel == "sms"
    ]
    if lead.phone:
        texts += [
            ThreadText(at=text.received_at, from_person=True, body=text.body)
            for text in notification_selectors.inbound_list(phone=str(lead.phone))
        ]
    return sorted(texts, key=lambda text: text.at)


def _interest_label(value: str) -> str:
    labels = {item["value"]: item["label"] for item in intake_selectors.cta_config()["interests"]}
    return labels.get(value, value)


def _callback_page(
    request: HttpRequest,
    callback: Callback,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    confirm: str = "",
    status: int = 200,
) -> HttpResponse:
    """The callback page; after a refused form, with the error next to its field and
    what was typed kept (``errors`` and ``typed`` by form field, e.g. ``sms_body``;
    the call notes are kept whichever form was sent). ``confirm`` names a closing
    outcome to confirm before it is logged."""
    # The whole timeline: name, phone, email, messages, replies, notes.
    intake_services.lead_access_record(
        lead=callback.lead, what="callback page", callback=callback.pk
    )
    submission = callback.submission
    # The screenings' answers, scores and bands: clinical, each read on the trail.
    screenings = intake_selectors.lead_screenings(lead_id=callback.lead_id)
    if screenings:
        intake_services.screenings_access_record(
            screenings=screenings, what="callback page", callback=callback.pk
        )
    wishes = console_page.contact_wishes(callback.lead)
    outcomes = console_page.outcome_choices(
        first_name=callback.lead.first_name, voicemail_ok=wishes.voicemail_ok
    )
    holder = (
        callback.claimed_by_id == request.user.pk and callback.status == Callback.Status.CLAIMED
    )
    shortcuts_on = selectors.console_shortcuts_enabled(user_id=request.user.pk)
    context = {
        "callback": callback,
        "errors": errors or {},
        "typed": typed or {},
        "help_with": _interest_label(submission.interest) if submission.interest else "",
        "chosen_channel": submission.get_preferred_channel_display(),
        # What each crisis request says, with its own details (never "the person
        # wrote": anyone can send one), for the crisis banner: care staff only.
        "crisis_requests": selectors.crisis_requests(lead=callback.lead),
        "crisis_protocol_steps": settings.CRISIS_PROTOCOL_STEPS,
        # Screenings whose self-harm question was answered above 0: the banner too.
        "crisis_screenings": [each for each in screenings if each.opens_crisis],
        "screenings": screenings,
        "screening_form": screening_form.screening_form(typed=typed or {}, errors=errors or {}),
        # The lead's insurance and its verification (its ids' read on the trail).
        "insurance": insurance_form.insurance_section(
            lead_id=callback.lead_id,
            callback_id=callback.pk,
            typed=typed or {},
            errors=errors or {},
        ),
        "sms_thread": _sms_thread(callback),
        "timeline": selectors.lead_timeline(lead=callback.lead),
        "undelivered": notification_selectors.messages_undelivered(
            correlation=f"lead:{callback.lead_id}"
        ),
        "holder": holder,
        "call_panel": call_views.call_panel(callback=callback, user_id=request.user.pk),
        "outcomes": outcomes,
        "confirm_outcome": next((each for each in outcomes if each.value == confirm), None),
        "wishes": wishes,
        # Email is for the person who cannot be texted, or chose email.
        "email_composer": bool(callback.lead.email)
        and (not wishes.texts_ok or callback.lead.preferred_channel == "email"),
        "discreet_sender": settings.DISCREET_SENDER_NAME,
        "voicemail_ok": wishes.voicemail_ok,
        # Keys act only on the callback one holds: never for someone looking on.
        "shortcuts": shortcuts_on and holder,
        "shortcuts_preference": shortcuts_on,
        "slots": selectors.slots_available(
            start=timezone.now(), end=timezone.now() + timedelta(days=7), limit=60
        ),
        # Video only where the clinic has a video service (VIDEO_ROOM_URL).
        "modalities": [
            (value, label)
            for value, label in Appointment.Modality.choices
            if value != Appointment.Modality.VIDEO or settings.VIDEO_ROOM_URL
        ],
        "default_modality": settings.CONSULTATION_DEFAULT_MODALITY,
        "is_supervisor": roles.has_role(request.user, roles.SUPERVISOR),
        "coordinators": get_user_model()
        .objects.filter(is_active=True, groups__name__in=CARE)
        .distinct()
        .order_by("username"),
        "now": timezone.now(),
        "to_review": intake_selectors.lead_submissions_to_review(lead=callback.lead)
        if callback.lead.needs_review
        else [],
        # "Previously refused", and whether the clinic may text the person (issue 20).
        "refusals": selectors.callback_refusals(callback=callback),
        "sms_permission": intake_selectors.sms_permission(
            phone=callback.lead.phone, lead_id=callback.lead_id
        ),  # The recordings of its calls, played through the app (issue 23, item 4).
        "recordings": recording_selectors.callback_recordings(callback_id=callback.pk),
        # Who booked, moved or cancelled, and the "Text a booking link" button (issue 25).
        "appointment_history": self_booking_selectors.appointment_history(lead_id=callback.lead_id),
        "booking_link_hours": settings.BOOKING_LINK_MAX_AGE_HOURS,
        # The waitlist, when nothing is open soon enough (issue 25, item 5).
        "waitlist": waitlist_selectors.waitlist_panel(lead_id=callback.lead_id),
    }
    response = render(request, "scheduling/callback.html", context, status=status)
    if context["call_panel"].softphone:
        # The softphone speaks to Twilio's signalling and media servers, and plays its
        # ringing sounds from Twilio's SDK host: this page only.
        response._csp_update = SOFTPHONE_CSP  # type: ignore[attr-defined]
    return response


def _callback_or_404(callback_id: int) -> Callback:
    callback = selectors.callback_get(callback_id=callback_id)
    if callback is None:
        raise Http404
    return callback


@require_GET
@roles.role_required(*CARE)
def console_callback(request: HttpRequest, callback_id: int) -> HttpResponse:
    """A callback and everything about its lead, with one-click outcomes."""
    callback = _callback_or_404(callback_id)
    services.staff_notices_seen(user_id=request.user.pk, callback_id=callback.pk)
    return _callback_page(request, callback)


@require_POST
@roles.role_required(*CARE)
def console_details_confirm(request: HttpRequest, callback_id: int) -> HttpResponse:
    """The coordinator spoke to the person, who confirmed what a later submission
    said: the lead takes its details (an anonymous form never grafts them itself)."""
    callback = selectors.callback_get(callback_id=callback_id)
    if callback is None:
        raise Http404
    try:
        submission_id = int(request.POST.get("submission_id", ""))
        intake_services.lead_details_confirm(lead_id=callback.lead_id, submission_id=submission_id)
    except ValueError:
        messages.error(request, "Choose a submission.")
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The lead now has the details the person confirmed.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


def _clinic_moment(raw: str) -> datetime | None:
    """A time typed in a datetime-local field, in clinic time."""
    try:
        moment = parse_datetime(raw or "")
    except ValueError:
        raise ApplicationError(
            "That is not a date and time.", fields={"call_back_at": ["Not a date and time."]}
        ) from None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, business_time.clinic_zone())
    return moment


@require_POST
@roles.role_required(*CARE)
def console_details_verify(request: HttpRequest, callback_id: int) -> HttpResponse:
    """The coordinator confirmed the lead's own phone, email or first name with the
    person (the ticked ones): care may go to them, and messages may use the name."""
    callback = _callback_or_404(callback_id)
    ticked = {name: name in request.POST for name in ("phone", "email", "name")}
    if not any(ticked.values()):
        messages.error(request, "Tick what the person confirmed.")
    else:
        intake_services.lead_details_verify(
            lead_id=callback.lead_id, by=Lead.Verification.COORDINATOR, **ticked
        )
        messages.success(request, "Recorded as confirmed with the person.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_POST
@roles.role_required(*CARE)
def console_attempt(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Log the outcome the holder chose (never a default: no outcome, no log); a
    closing one comes back to be confirmed unless ``confirm`` repeats it."""
    notes = request.POST.get("notes", "")[:5000]
    outcome = request.POST.get("outcome", "")
    try:
        attempt = services.attempt_log(
            callback_id=callback_id,
            user_id=request.user.pk,
            outcome=outcome,
            notes=notes,
            call_back_at=_clinic_moment(request.POST.get("call_back_at", "")),
            confirm=request.POST.get("confirm", ""),
        )
    except ApplicationError as error:
        # The form again, the error by it, the notes and the choice as typed.
        confirm = outcome if error.code == "confirmation_required" else ""
        return _callback_page(
            request,
            _callback_or_404(callback_id),
            errors={"attempt": error.message},
            typed={
                "notes": notes,
                "call_back_at": request.POST.get("call_back_at", "")[:40],
                "outcome": outcome[:20],
            },
            confirm=confirm,
            status=error.status_code,
        )
    request.session[LOGGED_KEY] = attempt.pk
    return redirect("scheduling:console")


@require_POST
@roles.role_required(*CARE)
def console_undo(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Take back a closing outcome one logged minutes ago (``services.attempt_undo``)."""
    try:
        attempt_id = int(request.POST.get("attempt_id", ""))
    except ValueError:
        messages.error(request, "Choose the call to undo.")
        return redirect("scheduling:console")
    try:
        services.attempt_undo(attempt_id=attempt_id, user_id=request.user.pk)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("scheduling:console")
    messages.success(request, "Undone: the request is open again and the callback is yours.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_POST
@roles.role_required(*CARE)
def console_renew(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Polled while the callback page is open, so the claim does not lapse."""
    renewed = services.callback_renew(callback_id=callback_id, user_id=request.user.pk)
    return HttpResponse(status=204 if renewed else 409)


@require_POST
@roles.role_required(*CARE)
def console_sms(request: HttpRequest, callback_id: int) -> HttpResponse:
    body = request.POST.get("body", "")
    try:
        services.lead_sms_reply(callback_id=callback_id, user_id=request.user.pk, body=body)
    except ApplicationError as error:
        # The form again, the error by the text box, the text and the notes as typed.
        return _callback_page(
            request,
            _callback_or_404(callback_id),
            errors={"sms_body": error.message},
            typed={"sms_body": body[:2000], "notes": request.POST.get("notes", "")[:5000]},
            status=400,
        )
    messages.success(request, "Text queued.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_POST
@roles.role_required(*CARE)
def console_email(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Email the person in the coordinator's own words (``services.lead_email_reply``)."""
    body = request.POST.get("body", "")
    try:
        services.lead_email_reply(callback_id=callback_id, user_id=request.user.pk, body=body)
    except ApplicationError as error:
        return _callback_page(
            request,
            _callback_or_404(callback_id),
            errors={"email_body": error.message},
            typed={"email_body": body[:4000], "notes": request.POST.get("notes", "")[:5000]},
            status=error.status_code,
        )
    messages.success(request, "Email queued.")
    return redirect("scheduling:console-callback", callback_id=callback_id)


@require_POST
@roles.role_required(*CARE)
def console_book(request: HttpRequest, callback_id: int) -> HttpResponse:
    """Book one of the offered slots for the callback's lead, which logs the call as
    "reached and booked" (with the notes typed under "Log the call"); a refused
    booking comes back with the error by the form and the notes kept."""
    notes = request.POST.get("notes", "")[:5000]
    try:
        try:
            clinician_id, starts_at = request.POST.get("slot", "").split("|", 1)
            moment = parse_datetime(starts_at)
            if moment is None:
                raise ValueError
            clinician = int(clinician_id)
        except ValueError:
            raise ApplicationError("Choose a time.", fields={"slot": ["Required."]}) from None
        appointment = services.callback_book(
            callback_id=callback_id,
            user_id=request.user.pk,
            clinician_id=clinician,
            starts_at=moment,
            notes=notes,
            modality=request.POST.get("modality") or None,
        )
    except ApplicationError as error:
        return _callback_page(
            request,
            _callback_or_404(callback_id),
            errors={"book": error.message},
            typed={"notes": notes},
            status=error.status_code,
        )
    attempt = selectors.attempt_last(callback_id=callback_id, user_id=request.user.pk)
    request.session[LOGGED_KEY] = attempt.pk if attempt else None
    # Its confirmation goes only to details the person proved: say so when none did.
    notice = selectors.appointment_booking_notice(appointment_id=appointment.pk)
    if notice:
        messages.warning(request, notice)
    return redirect("scheduling:console")


@sensitive_post_parameters(*screening_form.FIELD_NAMES)
@require_POST
@roles.role_required(*CARE)
def console_screening(request: HttpRequest, callback_id: int) -> HttpResponse:
    """The holder records the screening the person answered during the call
    (``services.callback_screenings_record``): PHQ-9, GAD-7 or both, with the
    presenting concern and the recommended level of care. A PHQ-9 self-harm answer
    above 0 opens the crisis protocol at once (the banner shows on the page that
    follows). A refused form comes back with each error by its question and every
    choice kept (the call notes too)."""
    typed = {name: request.POST.get(name, "")[:40] for name in screening_form.FIELD_NAMES}
    try:
        requests = screening_form.screening_requests(typed)
        services.callback_screenings_record(
            callback_id=callback_id, user_id=request.user.pk, requests=requests
        )
    except ApplicationError as error:
        errors = {field: messages[0] for field, messages in (error.fields or {}).items()}
        errors.setdefault("screening", error.message)
        return _callback_page(
            request,
            _callback_or_404(callback_id),
            errors=errors,
            typed={**typed, "notes": request.POST.get("notes", "")[:5000]},
            status=error.status_code,
        )
    messages.success(request, "Screening recorded.")
    return redirect("scheduling:console-callback", callback_id=callback_id)
