"""Twilio's webhooks of a bridged call (``services.calls``): TwiML for each step,
rendered from the stored call record, and the legs' status callbacks.

Every view is signed (``X-Twilio-Signature``, ``notifications.views.twilio_signed``)
and names the call by id only; the person's number is read from the lead when the
Dial is rendered, never taken from the request or put in a URL. A request for an
unknown or ended call, or from another call leg than the one stored, only hangs up.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse

from clinic.errors import ApplicationError
from notifications import bridged_call_twiml as twiml
from notifications.views import TWIML, twilio_signed
from scheduling import selectors
from scheduling.models import Call, CallLeg
from scheduling.services import calls, click_to_call, instant_calls, recordings

logger = logging.getLogger(__name__)


def _twiml(document: str) -> HttpResponse:
    return HttpResponse(document, content_type=TWIML)


def _staff_leg_call(
    request: HttpRequest, call_id: int, *, sid_from: str = "CallSid"
) -> Call | None:
    """The call, if the request comes from its member of staff's leg (``sid_from``
    names that leg's id: the person's leg names it as its ParentCallSid)."""
    call = selectors.call_get(call_id=call_id)
    if call is None:
        return None
    leg = call.legs.filter(role=CallLeg.Role.COORDINATOR).first()
    sid = request.POST.get(sid_from, "")
    if leg is None or not sid or (leg.provider_id and leg.provider_id != sid):
        logger.warning("calls.webhook_from_another_leg", extra={"call": call_id})
        return None
    return call


@twilio_signed
def call_answer(request: HttpRequest, call_id: int) -> HttpResponse:
    """The member of staff's phone answered: press 1 to be connected."""
    call = _staff_leg_call(request, call_id)
    if call is None or call.ended_at is not None:
        return _twiml(twiml.hang_up("This call is no longer needed. Goodbye."))
    webhooks = calls.call_webhooks(call_id=call.pk)
    return _twiml(
        twiml.staff_prompt(
            gather_url=webhooks.connect,
            instant=call.kind == Call.Kind.INSTANT,
            urgent=call.callback.is_urgent,
        )
    )


@twilio_signed
def call_connect(request: HttpRequest, call_id: int) -> HttpResponse:
    """The prompt's key: on "1", (the whisper of an instant call, the recording notice,)
    then dial the person as the lead has them now; anything else hangs up."""
    call = _staff_leg_call(request, call_id)
    if call is None:
        return _twiml(twiml.hang_up("This call is no longer needed. Goodbye."))
    if request.POST.get("Digits", "") != twiml.CONNECT_KEY:
        return _twiml(twiml.hang_up("Not connected. Goodbye."))
    if call.kind == Call.Kind.INSTANT:
        # The first to press 1 takes the request; everyone else hears why not.
        refused = instant_calls.instant_call_take(call_id=call.pk)
        if refused:
            return _twiml(twiml.hang_up(f"{refused} Goodbye."))
    try:
        person = selectors.call_person(call=call)
    except ApplicationError as error:
        return _twiml(twiml.hang_up(f"{error.message} Goodbye."))
    webhooks = calls.call_webhooks(call_id=call.pk)
    whisper = (
        twiml.whisper_text(first_name=person.first_name, urgent=person.urgent)
        if call.kind == Call.Kind.INSTANT
        else ""
    )
    return _twiml(
        twiml.bridge(
            person_phone=person.phone,
            caller_id=person.caller_id,
            person_url=webhooks.person,
            person_status_url=webhooks.person_status,
            dial_ended_url=webhooks.dial_ended,
            ring_seconds=calls.PERSON_RING_SECONDS,
            whisper=whisper,
            record=call.recorded,
            recording_status_url=recordings.call_recording_webhook_url(call_id=call.pk)
            if call.recorded
            else "",
        )
    )


def _bridge(call: Call, *, whisper: str = "") -> HttpResponse:
    """Dial the person as the lead has them now, from the clinic's (or discreet) caller
    ID; or hang up, saying why, where they may not be called."""
    try:
        person = selectors.call_person(call=call)
    except ApplicationError as error:
        return _twiml(twiml.hang_up(f"{error.message} Goodbye."))
    webhooks = calls.call_webhooks(call_id=call.pk)
    return _twiml(
        twiml.bridge(
            person_phone=person.phone,
            caller_id=person.caller_id,
            person_url=webhooks.person,
            person_status_url=webhooks.person_status,
            dial_ended_url=webhooks.dial_ended,
            ring_seconds=calls.PERSON_RING_SECONDS,
            whisper=whisper,
            record=call.recorded,
        )
    )


def _call_id(value: str) -> int:
    return int(value) if value.isdecimal() and len(value) < 12 else 0


@twilio_signed
def call_browser(request: HttpRequest) -> HttpResponse:
    """The TwiML App's voice webhook: the console's softphone connected for a call its
    member of staff stored (``call``, the custom parameter: an id, nothing else is read
    from the browser). The browser leg is the staff leg (no press 1: a browser has no
    voicemail) and the person is dialled as for a phone; anything else hangs up."""
    identity = request.POST.get("From", "").removeprefix("client:")
    call = click_to_call.call_browser_connect(
        call_id=_call_id(request.POST.get("call", "")),
        identity=identity,
        provider_id=request.POST.get("CallSid", ""),
    )
    if call is None:
        logger.warning("calls.browser_refused")
        return _twiml(twiml.hang_up("This call is no longer needed. Goodbye."))
    return _bridge(call)


@twilio_signed
def call_browser_status(request: HttpRequest) -> HttpResponse:
    """The TwiML App's status callback: a softphone leg's status, found by its id (the
    App's one URL names no call) and recorded as its call's staff leg."""
    sid = request.POST.get("CallSid", "")
    call_id = selectors.call_id_of_staff_leg(provider_id=sid) if sid else None
    if call_id is not None:
        calls.call_leg_status_record(
            call_id=call_id,
            role=CallLeg.Role.COORDINATOR,
            provider_id=sid,
            status=request.POST.get("CallStatus", ""),
            timestamp=request.POST.get("Timestamp", ""),
            duration_seconds=_seconds(request.POST.get("CallDuration", "")),
        )
    return HttpResponse(status=204)


@twilio_signed
def call_person_answered(request: HttpRequest, call_id: int) -> HttpResponse:
    """The person's phone answered (the Dial's ``<Number url>``): a person hears the
    recording notice if recording; a machine gets the voicemail the person allows
    (discreet when asked), else the call hangs up on it."""
    call = _staff_leg_call(request, call_id, sid_from="ParentCallSid")
    if call is None:
        return _twiml(twiml.hang_up())
    answered_by = request.POST.get("AnsweredBy", "")
    voicemail = ""
    if answered_by in twiml.MACHINE_ANSWERS:
        try:
            person = selectors.call_person(call=call)
        except ApplicationError:
            return _twiml(twiml.hang_up())
        if person.voicemail_ok:
            try:
                voicemail = twiml.voicemail_script(discreet=person.discreet)
            except ValueError:
                logger.warning("calls.voicemail_refused_by_wording", extra={"call": call_id})
    return _twiml(
        twiml.person_answered(answered_by=answered_by, voicemail=voicemail, record=call.recorded)
    )


@twilio_signed
def call_dial_ended(request: HttpRequest, call_id: int) -> HttpResponse:
    """The person's leg ended: tell the member of staff, and hang up."""
    return _twiml(twiml.dial_ended(dial_status=request.POST.get("DialCallStatus", "")))


def _seconds(value: str) -> int | None:
    return int(value) if value.isdecimal() else None


@twilio_signed
def call_status(request: HttpRequest, call_id: int, leg: str) -> HttpResponse:
    """A status callback of one leg (initiated, ringing, answered, completed, busy,
    no-answer, failed, canceled; AnsweredBy with machine detection). Repeats and late
    ones change nothing; unknown calls are acknowledged too (Twilio must not retry)."""
    if request.POST.get("CallSid"):
        calls.call_leg_status_record(
            call_id=call_id,
            role=leg,
            provider_id=request.POST["CallSid"],
            status=request.POST.get("CallStatus", ""),
            timestamp=request.POST.get("Timestamp", ""),
            duration_seconds=_seconds(request.POST.get("CallDuration", "")),
            answered_by=request.POST.get("AnsweredBy", ""),
        )
    return HttpResponse(status=204)
