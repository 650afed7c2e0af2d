"""Twilio's webhooks, and the development outbox."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notifications import services
from notifications.selectors import message_list

TWIML = "application/xml"


def twilio_signed(view: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """Accept only requests signed with our auth token for the URL Twilio used.

    The URL is rebuilt from ``PUBLIC_BASE_URL`` (what Twilio was given), not from
    the Host header, which a proxy or an attacker controls."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapped(request: HttpRequest) -> HttpResponse:
        signature = request.headers.get("X-Twilio-Signature", "")
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
        if not (
            settings.TWILIO_AUTH_TOKEN
            and signature
            and validator.validate(url, request.POST.dict(), signature)
        ):
            return HttpResponseForbidden("Invalid signature", content_type="text/plain")
        return view(request)

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


@require_GET
def dev_outbox(request: HttpRequest) -> HttpResponse:
    # Development only: it shows message bodies and recipients to anyone.
    if not settings.DEVELOPMENT:
        raise Http404
    return render(request, "notifications/dev_outbox.html", {"messages_sent": message_list()})
