"""Twilio's webhooks, and the development outbox."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from notifications import services
from notifications.selectors import message_list

TWIML = "application/xml"


def twilio_signed(view: Callable[..., HttpResponse]) -> Callable:
    """Accept only requests signed with our auth token for the URL Twilio used.

    The URL is rebuilt from ``PUBLIC_BASE_URL`` (what Twilio was given), not from
    the Host header, which a proxy or an attacker controls. While the token is being
    rotated, a signature made with a token in ``TWILIO_AUTH_TOKEN_FALLBACKS`` passes
    too: Twilio signs with its primary token until the new one is promoted."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        signature = request.headers.get("X-Twilio-Signature", "")
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        tokens = [settings.TWILIO_AUTH_TOKEN, *settings.TWILIO_AUTH_TOKEN_FALLBACKS]
        params = request.POST.dict()
        if not (
            settings.TWILIO_AUTH_TOKEN
            and signature
            and any(
                RequestValidator(token).validate(url, params, signature)
                for token in tokens
                if token
            )
        ):
            return HttpResponseForbidden("Invalid signature", content_type="text/plain")
        return view(request, *args, **kwargs)

    return wrapped


@twilio_signed
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Delivery status callback: queued → sent → delivered / undelivered / failed."""
    sid = request.POST.get("MessageSid", "")
    if sid:
        services.message_status_record(
            provider_id=sid,
            status=request.POST.get("MessageStatus", ""),
            error_code=request.POST.get("ErrorCode", ""),
        )
    return HttpResponse(status=204)


@twilio_signed
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """A text from a person. Answered with empty TwiML: replies go out as messages
    (recorded, paced, checked against opt-outs), not inline."""
    sid = request.POST.get("MessageSid", "")
    sender = request.POST.get("From", "")
    if sid and sender:
        services.inbound_receive(
            provider_id=sid,
            sender=sender,
            body=request.POST.get("Body", "")[:1600],
            opt_out_type=request.POST.get("OptOutType", ""),
        )
    return HttpResponse(str(MessagingResponse()), content_type=TWIML)


@twilio_signed
def twilio_voice(request: HttpRequest) -> HttpResponse:
    """A call to a clinic number (an article's tracking number): record it and
    forward it to the clinic line; the dial's end reports to ``twilio_voice_dial``."""
    sid = request.POST.get("CallSid", "")
    called = request.POST.get("To", "")
    if sid:
        services.call_receive(provider_id=sid, caller=request.POST.get("From", ""), called=called)
    response = VoiceResponse()
    dial = response.dial(
        action=f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/voice/dial/",
        timeout=settings.CALL_FORWARD_RING_SECONDS,
        caller_id=called or None,
    )
    dial.number(settings.CLINIC_FORWARD_NUMBER)
    return HttpResponse(str(response), content_type=TWIML)


@twilio_signed
def twilio_voice_dial(request: HttpRequest) -> HttpResponse:
    """The forward ended. If nobody answered, the caller hears that we will call
    back, and an urgent callback is queued."""
    services.call_forward_ended(
        provider_id=request.POST.get("CallSid", ""),
        dial_status=request.POST.get("DialCallStatus", ""),
    )
    response = VoiceResponse()
    if request.POST.get("DialCallStatus", "") in services.MISSED_DIAL_STATUSES:
        response.say(
            "Sorry we missed you. A care coordinator will call you back as soon as possible. "
            "If this is an emergency, hang up and dial 9 1 1, or call or text 9 8 8.",
        )
    response.hangup()
    return HttpResponse(str(response), content_type=TWIML)


@require_GET
def dev_outbox(request: HttpRequest) -> HttpResponse:
    # Development only: it shows message bodies and recipients to anyone.
    if not settings.DEVELOPMENT:
        raise Http404
    return render(request, "notifications/dev_outbox.html", {"messages_sent": message_list()})
