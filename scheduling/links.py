"""Signed links a person can use without an account (django.core.signing).

A request link names one submission and the address it was sent to; an appointment
link names one appointment; a waitlist offer link names one offer and the waiting
person it went to (its page refuses an expired offer; the link itself never opens
past ``WAITLIST_LINK_MAX_AGE``). Each carries ids only, is signed with SECRET_KEY and a
purpose-specific salt, and expires. A request link goes to an address nobody
verified, so its page can only make contact more restrictive (see
``scheduling.services.submission_restrict``); it stops opening when the submission's
email changes, when its links are revoked, or after ``REQUEST_LINK_MAX_AGE_DAYS``.
A booking link names one lead and a nonce of its own (so that one link books once);
a coordinator sends it only to a number the person proved (``services.self_booking``),
and it expires after ``BOOKING_LINK_MAX_AGE_HOURS``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from clinic.crypto import email_hash, email_hash_lowercased

REQUEST_SALT = "scheduling.submission-restrict"
APPOINTMENT_SALT = "scheduling.appointment-manage"
BOOKING_SALT = "scheduling.self-booking"
WAITLIST_OFFER_SALT = "scheduling.waitlist-offer"
LINK_MAX_AGE = timedelta(days=60)
# An offer lasts WAITLIST_OFFER_HOURS; its link never opens past this, whatever the setting.
WAITLIST_LINK_MAX_AGE = timedelta(days=7)
# How much of the address's keyed hash a request link carries to bind it.
_ADDRESS_BINDING_CHARS = 16


def request_manage_url(*, submission_id: int, email_hash: str) -> str:
    """The link in a confirmation email: restrict or cancel that one submission."""
    token = signing.dumps(
        {"s": submission_id, "a": email_hash[:_ADDRESS_BINDING_CHARS], "t": int(time.time())},
        salt=REQUEST_SALT,
        compress=True,
    )
    return settings.PUBLIC_BASE_URL + reverse("manage:request", args=[token])


@dataclass(frozen=True)
class RequestLink:
    submission_id: int
    #: The start of the keyed hash of the address the link was sent to.
    address: str
    issued_at: datetime

    def opens_for(self, *, email: str, revoked_at: datetime | None) -> bool:
        """The link still belongs to the submission: sent to its address (``email``, as
        the submission holds it now), and issued after any revocation. A link binds the
        hash of the address's mailbox; one issued before hashes were of mailboxes binds
        the hash of the lower-cased address, accepted too until such links expire."""
        bound = any(
            hashed and hashed[:_ADDRESS_BINDING_CHARS] == self.address
            for hashed in (email_hash(email), email_hash_lowercased(email))
        )
        return bound and (revoked_at is None or self.issued_at > revoked_at)


def request_link(token: str) -> RequestLink | None:
    max_age = timedelta(days=settings.REQUEST_LINK_MAX_AGE_DAYS)
    try:
        value = signing.loads(token, salt=REQUEST_SALT, max_age=max_age)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(value, dict):
        return None
    submission_id, address, issued = value.get("s"), value.get("a"), value.get("t")
    if not (isinstance(submission_id, int) and isinstance(address, str)):
        return None
    if not isinstance(issued, int):
        return None
    return RequestLink(
        submission_id=submission_id,
        address=address,
        issued_at=datetime.fromtimestamp(issued, tz=UTC),
    )


def appointment_manage_url(*, appointment_id: int) -> str:
    return settings.PUBLIC_BASE_URL + appointment_manage_path(appointment_id=appointment_id)


def appointment_manage_path(*, appointment_id: int) -> str:
    """The appointment's page, as a path on this site (for a redirect from another of
    the person's pages)."""
    token = signing.dumps({"appointment": appointment_id}, salt=APPOINTMENT_SALT, compress=True)
    return reverse("manage:appointment", args=[token])


def appointment_id(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=APPOINTMENT_SALT, max_age=LINK_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    identifier = value.get("appointment") if isinstance(value, dict) else None
    return identifier if isinstance(identifier, int) else None


@dataclass(frozen=True)
class BookingLink:
    lead_id: int
    #: This link's own random id: a booking made with it is recorded under it.
    nonce: str
    #: The start of the keyed hash of the number the link was texted to.
    phone: str
    issued_at: datetime

    def opens_for(self, *, phone_hash: str) -> bool:
        """The lead still has the number the link was texted to (a number changed
        since, by a coordinator or an admin, closes the link)."""
        return bool(phone_hash) and phone_hash[:_ADDRESS_BINDING_CHARS] == self.phone


def booking_url(*, lead_id: int, phone_hash: str) -> str:
    """A new booking link for the lead, bound to the number it is texted to (its keyed
    hash, ``phone_hash``), with a nonce of its own."""
    token = signing.dumps(
        {
            "l": lead_id,
            "n": secrets.token_urlsafe(12),
            "p": phone_hash[:_ADDRESS_BINDING_CHARS],
            "t": int(time.time()),
        },
        salt=BOOKING_SALT,
        compress=True,
    )
    return settings.PUBLIC_BASE_URL + reverse("manage:booking", args=[token])


def booking_link(token: str) -> BookingLink | None:
    """The booking link ``token`` names, or None when it is forged, altered, signed for
    another purpose or older than ``BOOKING_LINK_MAX_AGE_HOURS``."""
    max_age = timedelta(hours=settings.BOOKING_LINK_MAX_AGE_HOURS)
    try:
        value = signing.loads(token, salt=BOOKING_SALT, max_age=max_age)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(value, dict):
        return None
    lead_id, nonce, phone, issued = (value.get(key) for key in ("l", "n", "p", "t"))
    if not (isinstance(lead_id, int) and isinstance(issued, int)):
        return None
    if not (isinstance(nonce, str) and isinstance(phone, str) and 0 < len(nonce) <= 32):
        return None
    return BookingLink(
        lead_id=lead_id,
        nonce=nonce,
        phone=phone,
        issued_at=datetime.fromtimestamp(issued, tz=UTC),
    )


@dataclass(frozen=True)
class WaitlistOfferLink:
    offer_id: int
    entry_id: int


def waitlist_offer_url(*, offer_id: int, entry_id: int) -> str:
    """The link in a waitlist offer's text: that one offer, for that one waiting person
    (the offer went only to a phone the person proved)."""
    token = signing.dumps({"o": offer_id, "e": entry_id}, salt=WAITLIST_OFFER_SALT, compress=True)
    return settings.PUBLIC_BASE_URL + reverse("manage:waitlist-offer", args=[token])


def waitlist_offer_link(token: str) -> WaitlistOfferLink | None:
    try:
        value = signing.loads(token, salt=WAITLIST_OFFER_SALT, max_age=WAITLIST_LINK_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(value, dict):
        return None
    offer_id, entry_id = value.get("o"), value.get("e")
    if not (isinstance(offer_id, int) and isinstance(entry_id, int)):
        return None
    return WaitlistOfferLink(offer_id=offer_id, entry_id=entry_id)
