"""Signed links a person can use without an account (django.core.signing).

A link names one lead (to manage their request) or one appointment (to cancel or
ask to reschedule). It carries an id only, is signed with SECRET_KEY and a
purpose-specific salt, and expires.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

REQUEST_SALT = "scheduling.request-manage"
APPOINTMENT_SALT = "scheduling.appointment-manage"
LINK_MAX_AGE = timedelta(days=60)


def request_manage_url(*, lead_id: int) -> str:
    token = signing.dumps({"lead": lead_id}, salt=REQUEST_SALT, compress=True)
    return settings.PUBLIC_BASE_URL + reverse("manage:request", args=[token])


def appointment_manage_url(*, appointment_id: int) -> str:
    token = signing.dumps({"appointment": appointment_id}, salt=APPOINTMENT_SALT, compress=True)
    return settings.PUBLIC_BASE_URL + reverse("manage:appointment", args=[token])


def _load(token: str, *, salt: str, key: str) -> int | None:
    try:
        value = signing.loads(token, salt=salt, max_age=LINK_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    identifier = value.get(key) if isinstance(value, dict) else None
    return identifier if isinstance(identifier, int) else None


def request_lead_id(token: str) -> int | None:
    return _load(token, salt=REQUEST_SALT, key="lead")


def appointment_id(token: str) -> int | None:
    return _load(token, salt=APPOINTMENT_SALT, key="appointment")
