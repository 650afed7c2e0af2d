"""Click-to-call: the coordinator holding a callback has the clinic's phone ring their
own (verified) phone, and on their "1" dial the person from the clinic's caller ID
(``services.calls`` keeps the record, ``call_webhooks`` serves the TwiML).

:func:`callback_call_place` checks everything and stores the call; once that commits,
a worker's :func:`call_place` places it at the provider (ids only in the task), as
instant calls are placed. A provider refusal leaves the callback as it was: the call
is marked failed and ended, which the console shows its coordinator.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import ApplicationError
from clinic.workers import enqueue
from notifications.backends import TransportError
from notifications.voice import CallRequest, voice_backend
from scheduling import selectors
from scheduling.models import Call, CallLeg
from scheduling.services import calls
from scheduling.services.callback_state import callback_held

logger = logging.getLogger(__name__)

# How long the member of staff's own phone rings before the call gives up.
STAFF_RING_SECONDS = 25


def _staff_phone(*, user_id: int) -> str:
    """The user's own phone, verified; else 409 ``phone_unverified``."""
    phone = selectors.staff_phone_verified(user_id=user_id)
    if not phone:
        raise ApplicationError(
            "Confirm your own phone on your profile page first.",
            code="phone_unverified",
            status_code=409,
        )
    return phone


def _stale_calls_end(*, user_id: int, now: datetime) -> None:
    """The user's calls that can no longer be live end now (``selectors.calls_stale``)."""
    Call.objects.filter(coordinator_id=user_id, ended_at__isnull=True).filter(
        pk__in=Call.objects.filter(selectors.calls_stale(now=now)).values("pk")
    ).update(ended_at=now)


def callback_call_place(*, callback_id: int, user_id: int, browser: bool = False) -> Call:
    """Store a click-to-call for ``callback_id`` by ``user_id`` and have it placed once
    this commits. Refused with a 4xx that changes nothing when: the user does not hold
    the callback (409 ``not_holder``; ``callback_closed``), has no verified phone (409
    ``phone_unverified``), ``CLINIC_CALLER_ID`` is not set (409 ``caller_id_missing``),
    a refusal waits to be acknowledged (409 ``refusal_unacknowledged``), the person
    may not be called (409 ``refused``, ``no_phone``, ``no_caller_id`` for a person who
    asked for discretion without a discreet caller ID), or the user is on a call
    already (409 ``call_in_progress``). With ``browser`` the call is stored for the
    console's softphone to connect (:func:`call_browser_connect`): nothing is placed
    from here, and no phone of one's own is needed (409 ``softphone_not_configured``
    without the softphone)."""
    now = timezone.now()
    with transaction.atomic():
        callback = callback_held(callback_id=callback_id, user_id=user_id)
        _stale_calls_end(user_id=user_id, now=now)
        blocker = selectors.click_to_call_blocker(
            callback=callback, user_id=user_id, browser=browser
        )
        if blocker is not None:
            raise blocker
        try:
            with transaction.atomic():
                call = calls.call_create(
                    callback_id=callback.pk, coordinator_id=user_id, kind=Call.Kind.CLICK_TO_CALL
                )
        except IntegrityError:
            raise _in_progress() from None  # a second press at the same moment
        call_id = call.pk
        if not browser:
            transaction.on_commit(lambda: _place_enqueue(call_id), robust=True)
    logger.info("calls.click_to_call", extra={"call": call.pk, "callback": callback_id})
    return call


def _in_progress() -> ApplicationError:
    return ApplicationError(
        "You are on a call already: end it first.", code="call_in_progress", status_code=409
    )


def _place_enqueue(call_id: int) -> None:
    if not enqueue("scheduling.tasks.call_place", call_id):
        # No worker will place it: say so now rather than leave it "ringing".
        call_fail(call_id=call_id)


def call_fail(*, call_id: int) -> bool:
    """The call could not be placed: its staff leg is failed and the call ended (the
    callback stays as it was). True if it changed now."""
    with transaction.atomic():
        ended = calls.call_end(call_id=call_id)
        CallLeg.objects.filter(
            call_id=call_id, role=CallLeg.Role.COORDINATOR, status=CallLeg.Status.QUEUED
        ).update(status=CallLeg.Status.FAILED, ended_at=timezone.now())
    return ended


def call_place(*, call_id: int) -> bool:
    """Place the stored click-to-call at the provider: ring its coordinator's verified
    phone from ``CLINIC_CALLER_ID``, the TwiML and status callbacks by the call's id
    only. A call placed already, or ended meanwhile, is not placed again; a transport
    error fails the call (:func:`call_fail`). True if placed now."""
    call = (
        Call.objects.filter(pk=call_id, kind=Call.Kind.CLICK_TO_CALL, ended_at__isnull=True)
        .exclude(legs__role=CallLeg.Role.COORDINATOR, legs__provider_id__isnull=False)
        .first()
    )
    if call is None:
        return False
    try:
        phone = _staff_phone(user_id=call.coordinator_id)
    except ApplicationError:
        call_fail(call_id=call_id)
        return False
    hooks = calls.call_webhooks(call_id=call_id)
    request = CallRequest(
        to=phone,
        caller_id=settings.CLINIC_CALLER_ID,
        url=hooks.answer,
        status_callback=hooks.staff_status,
        timeout=STAFF_RING_SECONDS,
        time_limit=int(selectors.CALL_MAX.total_seconds()),
    )
    try:
        provider_id = voice_backend().call_create(request)
    except TransportError as error:
        logger.warning("calls.place_failed", extra={"call": call_id, "code": error.code})
        call_fail(call_id=call_id)
        return False
    calls.call_provider_id_set(call_id=call_id, provider_id=provider_id)
    return True


def softphone_identity(*, user_id: int) -> str:
    """Who a member of staff's browser is to Twilio: their id, never a name (as
    ``/api/v1/me/voice-token/`` mints it)."""
    return f"staff-{user_id}"


def call_browser_connect(*, call_id: int, identity: str, provider_id: str) -> Call | None:
    """The console's softphone connected (the TwiML App's voice webhook): the call is
    the one ``identity`` stored for the browser (a click-to-call of theirs, not ended,
    whose staff leg is no other call's yet), and this browser leg becomes its staff
    leg. None if not: the webhook then only hangs up. The person's number is read from
    the lead by the caller, never taken from the browser."""
    call = selectors.call_get(call_id=call_id)
    if (
        call is None
        or call.kind != Call.Kind.CLICK_TO_CALL
        or call.ended_at is not None
        or identity != softphone_identity(user_id=call.coordinator_id)
        or not provider_id
    ):
        return None
    if not calls.call_provider_id_set(call_id=call.pk, provider_id=provider_id):
        return None  # placed to a phone already, or another browser leg took it
    return call
