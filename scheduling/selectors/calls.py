"""The clinic's phone: staff phones and availability, a call and the person it reaches, its
progress, and whether the Call button may place one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import selectors as notification_selectors
from scheduling.models import (
    Call,
    CallAttempt,
    Callback,
    CallLeg,
    StaffCallSettings,
)
from scheduling.selectors.queue import LIVE, callback_refusals


def staff_call_settings_get(*, user_id: int) -> StaffCallSettings | None:
    return StaffCallSettings.objects.filter(user_id=user_id).first()


def staff_available_for_instant_calls() -> QuerySet[StaffCallSettings]:
    """Members of staff taking instant calls, with a confirmed phone, longest waiting
    first."""
    return (
        StaffCallSettings.objects.filter(available=True, verified_at__isnull=False)
        .exclude(phone="")
        .select_related("user")
        .order_by("available_since", "pk")
    )


def call_get(*, call_id: int) -> Call | None:
    return Call.objects.select_related("callback__lead", "coordinator").filter(pk=call_id).first()


@dataclass(frozen=True)
class CallPerson:
    """Whom a bridged call reaches, read from the lead when the call reaches them."""

    phone: str  # E.164
    first_name: str
    # The number they see: the clinic's, or the discreet one if they asked for discretion.
    caller_id: str
    discreet: bool
    voicemail_ok: bool
    urgent: bool


def call_person(*, call: Call) -> CallPerson:
    """Whom ``call`` may dial now, or ``ApplicationError`` saying why not, in words the
    member of staff may hear (no personal data): the call ended, the request is
    closed, there is no number, or no caller ID is set up for this person."""
    callback = call.callback
    lead = callback.lead
    if call.ended_at is not None:
        raise ApplicationError("This call has ended.", code="call_ended", status_code=409)
    if callback.status not in LIVE or lead.stage == Lead.Stage.CLOSED:
        raise ApplicationError("This request is closed.", code="callback_closed", status_code=409)
    if not lead.phone or lead.anonymised_at is not None:
        raise ApplicationError("There is no number to call.", code="no_phone", status_code=409)
    if notification_selectors.contact_refused(phone=lead.phone):
        raise ApplicationError(
            "This person asked not to be contacted.", code="refused", status_code=409
        )
    preferences = intake_selectors.lead_contact_preferences(lead_id=lead.pk)
    discreet = not preferences.mention_clinic_ok
    caller_id = settings.DISCREET_CALLER_ID if discreet else settings.CLINIC_CALLER_ID
    if not caller_id:
        reason = (
            "The person asked us not to name the clinic, and no discreet caller ID is set up."
            if discreet
            else "No clinic caller ID is set up."
        )
        raise ApplicationError(reason, code="no_caller_id", status_code=409)
    return CallPerson(
        phone=lead.phone.as_e164 if hasattr(lead.phone, "as_e164") else str(lead.phone),
        first_name=lead.first_name,
        caller_id=caller_id,
        discreet=discreet,
        voicemail_ok=preferences.voicemail_ok,
        urgent=callback.is_urgent,
    )


@dataclass(frozen=True)
class CallProgress:
    """Where a bridged call is, for the member of staff who placed it (no personal
    data): ``status`` is one of ringing (their phone), connecting (they answered, the
    person is not dialled yet), dialling (the person's phone rings), connected, ended,
    failed (never placed, or their phone could not be reached); ``result`` is the
    logged attempt's, once the person's leg ended."""

    call_id: int
    status: str
    label: str
    result: str
    ended: bool


def call_progress(*, call: Call) -> CallProgress:
    legs = {leg.role: leg for leg in call.legs.all()}
    staff, person = legs.get(CallLeg.Role.COORDINATOR), legs.get(CallLeg.Role.PERSON)
    attempt = CallAttempt.objects.filter(call=call).values_list("result", flat=True).first()
    result = attempt or ""
    unreached = (CallLeg.Status.BUSY, CallLeg.Status.NO_ANSWER, CallLeg.Status.FAILED)
    if person is not None and person.status == CallLeg.Status.IN_PROGRESS:
        status, label = "connected", "Connected."
    elif person is not None and call.ended_at is None and not result:
        status, label = "dialling", "Your phone answered: calling the person…"
    elif staff is not None and staff.status == CallLeg.Status.FAILED and person is None:
        status, label = "failed", "The call could not be placed. Nothing was changed."
    elif call.ended_at is not None or result:
        if result:
            label = f"Call ended: {CallAttempt.Result(result).label.lower()}."
        elif staff is not None and staff.status in unreached:
            label = "Call ended: your phone did not answer."
        else:
            label = "Call ended: the person was not dialled."
        status = "ended"
    elif staff is not None and staff.status == CallLeg.Status.IN_PROGRESS:
        status, label = "connecting", "Your phone answered: press 1 to call the person."
    else:
        status, label = "ringing", "Ringing your phone…"
    return CallProgress(
        call_id=call.pk,
        status=status,
        label=label,
        result=result,
        ended=call.ended_at is not None or status in ("failed", "ended"),
    )


def call_live_for(*, user_id: int, callback_id: int) -> Call | None:
    """The newest click-to-call ``user_id`` placed on the callback in the last hours,
    if any (the console shows how it goes)."""
    return (
        Call.objects.filter(
            coordinator_id=user_id,
            callback_id=callback_id,
            kind=Call.Kind.CLICK_TO_CALL,
            created_at__gt=timezone.now() - timedelta(hours=1),
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def staff_phone_verified(*, user_id: int) -> str:
    """The user's own phone for the clinic's calls if confirmed with its code, else ""."""
    return (
        StaffCallSettings.objects.filter(user_id=user_id, verified_at__isnull=False)
        .exclude(phone="")
        .values_list("phone", flat=True)
        .first()
    ) or ""


def softphone_configured() -> bool:
    """The console's browser softphone is set up (an API key and a TwiML App)."""
    return bool(
        settings.TWILIO_API_KEY and settings.TWILIO_API_SECRET and settings.TWILIO_TWIML_APP_SID
    )


def click_to_call_blocker(
    *, callback: Callback, user_id: int, browser: bool = False
) -> ApplicationError | None:
    """Why the holder ``user_id`` may not call ``callback`` from the clinic's number
    now (the 409 ``services.click_to_call`` answers, its message shown by the console's
    disabled Call button), or None if they may. Who holds the callback is the
    caller's to check first; a call live past its time is the service's to end. With
    ``browser`` the call is from the console's softphone: no phone of one's own is
    rung, but the softphone must be set up."""
    if browser and not softphone_configured():
        return ApplicationError(
            "No browser softphone is set up: call from the clinic's number instead.",
            code="softphone_not_configured",
            status_code=409,
        )
    if not browser and not staff_phone_verified(user_id=user_id):
        return ApplicationError(
            "Confirm your own phone on your profile page first: the clinic's phone rings "
            "it before dialling the person.",
            code="phone_unverified",
            status_code=409,
        )
    if not settings.CLINIC_CALLER_ID:
        return ApplicationError(
            "The clinic's caller ID is not set up (CLINIC_CALLER_ID): call from your own "
            "phone instead.",
            code="caller_id_missing",
            status_code=409,
        )
    if callback_refusals(callback=callback).pending:
        return ApplicationError(
            "This person asked not to be contacted before: read the refusal and "
            "acknowledge it first.",
            code="refusal_unacknowledged",
            status_code=409,
        )
    try:
        call_person(call=Call(callback=callback))
    except ApplicationError as error:
        return error
    if calls_live_of(user_id=user_id).exists():
        return ApplicationError(
            "You are on a call already: end it first.", code="call_in_progress", status_code=409
        )
    return None


# A call still live this long after it was placed ended without telling us (its last
# status callback lost); also the longest a call may last at the provider.
CALL_MAX = timedelta(hours=4)


# A call whose staff leg heard nothing from the provider this long after it was made
# was never placed, or its callbacks were lost.
CALL_UNHEARD_AFTER = timedelta(minutes=2)


def calls_stale(*, now: datetime) -> Q:
    """Calls not ended that can no longer be live (see ``CALL_MAX``,
    ``CALL_UNHEARD_AFTER``)."""
    return Q(created_at__lte=now - CALL_MAX) | Q(
        created_at__lte=now - CALL_UNHEARD_AFTER,
        legs__role=CallLeg.Role.COORDINATOR,
        legs__status=CallLeg.Status.QUEUED,
    )


def calls_live_of(*, user_id: int) -> QuerySet[Call]:
    """The calls ringing or bridging ``user_id``'s phone now."""
    return Call.objects.filter(coordinator_id=user_id, ended_at__isnull=True).exclude(
        pk__in=Call.objects.filter(calls_stale(now=timezone.now())).values("pk")
    )


def call_length(seconds: int | None) -> str:
    if not seconds:
        return ""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def call_id_of_staff_leg(*, provider_id: str) -> int | None:
    """The call whose member of staff's leg has this provider id, if any."""
    return (
        CallLeg.objects.filter(provider_id=provider_id, role=CallLeg.Role.COORDINATOR)
        .values_list("call_id", flat=True)
        .first()
    )
