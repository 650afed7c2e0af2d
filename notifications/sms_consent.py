"""What a phone number itself said about texts: its stops, and its own yes (issue 20).

Anyone can fill in a form with someone else's number and tick "text me". So a form's
consent counts for a number only while that number never said stop; once it did
(STOP, a carrier's opt-out, a link's "stop texts", a refusal), only the phone itself
says yes again: START (or UNSTOP, SUBSCRIBE) from it, or YES in answer to the one
"reply YES to get texts" message a coordinator may send (``sms_invites``), within
``INVITE_ANSWER_WINDOW``. The state is kept by the number's keyed hash, forever, like
an opt-out. The answers forms gave are intake's consent ledger;
``intake.selectors.sms_permission`` puts the two together for every sender.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from clinic.crypto import phone_hash
from clinic.errors import ApplicationError
from notifications.models import OptOut, Refusal, SmsConsentState
from notifications.replies import keyword_of
from notifications.selectors import contact_refused

# How long a YES still answers the invitation (it is sent once per number, ever).
INVITE_ANSWER_WINDOW = timedelta(days=7)


def _state_locked(hashed: str) -> SmsConsentState:
    """The number's state row, locked until the caller's transaction ends."""
    state, _created = SmsConsentState.objects.select_for_update().get_or_create(phone_hash=hashed)
    return state


def sms_consent_restricted(*, phone: object, at: datetime | None = None) -> None:
    """Texts to ``phone`` were stopped (by the person, the carrier, a link or a
    refusal): from now on a form's consent no longer allows texting it."""
    hashed = phone_hash(phone)
    if not hashed:
        return
    at = at or timezone.now()
    with transaction.atomic():
        state = _state_locked(hashed)
        if state.restricted_at is None or state.restricted_at < at:
            state.restricted_at = at
            state.save(update_fields=["restricted_at"])


def sms_consent_opt_in(*, phone: str, body: str) -> bool:
    """The phone texted an opt-in keyword; True if that was the phone's own yes.

    START (UNSTOP, SUBSCRIBE) is, always: it lifts the number's opt-out and its
    refusal (the person lifted it, ``Refusal.LiftSource.START``). A bare YES is only
    as the answer to the invitation, within ``INVITE_ANSWER_WINDOW`` and with no stop
    since: anyone can tell a person "text YES to ...", and STOP is lifted by START
    only. Either is recorded as the number's proven yes (``proven_at``)."""
    hashed = phone_hash(phone)
    if not hashed:
        return False
    now = timezone.now()
    with transaction.atomic():
        if keyword_of(body) == "YES":
            # Only a number that was invited can answer; no row is made for the rest.
            state = SmsConsentState.objects.select_for_update().filter(phone_hash=hashed).first()
            invited = state.invited_at if state else None
            if (
                state is None
                or invited is None
                or now - invited > INVITE_ANSWER_WINDOW
                or (state.restricted_at is not None and state.restricted_at > invited)
                or OptOut.objects.filter(phone_hash=hashed).exists()
            ):
                return False
            state.proof = SmsConsentState.Proof.YES
        else:
            state = _state_locked(hashed)
            state.proof = SmsConsentState.Proof.START
            OptOut.objects.filter(phone_hash=hashed).delete()
            Refusal.objects.filter(
                channel=Refusal.Channel.PHONE, value_hash=hashed, lifted_at__isnull=True
            ).update(lifted_at=now, lift_source=Refusal.LiftSource.START)
        state.proven_at = now
        state.save(update_fields=["proof", "proven_at"])
    return True


def sms_consent_invite_claim(*, phone: object, invited_by_id: int | None) -> None:
    """Take the number's one invitation ("reply YES to get texts"), now. Refused
    (``ApplicationError``) when the number opted out (only START lifts that), is
    refused, or was invited before: once per number, ever, so that it cannot become a
    way to pester someone."""
    hashed = phone_hash(phone)
    if not hashed:
        raise ApplicationError("There is no phone number to text.", code="no_phone")
    if contact_refused(phone=phone):
        raise ApplicationError(
            "This person asked not to be contacted.", code="refused", status_code=409
        )
    if OptOut.objects.filter(phone_hash=hashed).exists():
        raise ApplicationError(
            "This number opted out of texts; only START from the phone lifts that.",
            code="opted_out",
            status_code=409,
        )
    with transaction.atomic():
        state = _state_locked(hashed)
        if state.invited_at is not None:
            raise ApplicationError(
                "This number was already asked once; it is not asked again.",
                code="sms_invite_sent",
                status_code=409,
            )
        state.invited_at = timezone.now()
        state.invited_by_id = invited_by_id
        state.save(update_fields=["invited_at", "invited_by"])
