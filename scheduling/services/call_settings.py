"""A member of staff's own phone for the clinic's calls: set it, confirm it with a code
by SMS, and take instant calls (or stop).

A bridged call rings this phone first and then a patient, so a number is used only
after its owner typed back the code texted to it: codes are 6 digits, work for
``CODE_LIFETIME`` and ``CODE_TRIES`` wrong tries, are stored as a keyed hash and
compared in constant time. A wrong or expired code changes nothing but the count of
tries.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from phonenumber_field.phonenumber import PhoneNumber, to_python

from clinic.crypto import lookup_hash, phone_hash
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message
from scheduling.models import StaffCallSettings

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
CODE_TRIES = 5
# A new code for the same number at most this often (each one is a text we pay for),
# and at most CODES_PER_HOUR codes per member of staff: a number typed by mistake, or
# on purpose, is not texted again and again.
CODE_RESEND_AFTER = timedelta(seconds=30)
CODES_PER_HOUR = 5


def _invalid(field: str, message: str, *, code: str = "invalid", status_code: int = 400):
    return ApplicationError(message, code=code, status_code=status_code, fields={field: [message]})


def _clinic_numbers() -> set[str]:
    return {
        number
        for number in (
            settings.CLINIC_PHONE,
            settings.CLINIC_FORWARD_NUMBER,
            settings.CLINIC_CALLER_ID,
            settings.DISCREET_CALLER_ID,
        )
        if number
    }


def staff_phone_parse(*, phone: str) -> str:
    """``phone`` in E.164 if a member of staff may take the clinic's calls on it: a
    valid number that takes texts (the code goes by SMS) in ``SMS_ALLOWED_COUNTRIES``,
    not one of the clinic's own lines. Raises ``ApplicationError`` with a field error."""
    number = to_python(phone.strip(), region=settings.PHONENUMBER_DEFAULT_REGION)
    if not isinstance(number, PhoneNumber) or not number.is_valid():
        raise _invalid("phone", "Enter a valid phone number.")
    if not intake_selectors.phone_sms_reachable(
        phone=number, phone_type=intake_services.phone_type_of(number)
    ):
        region = phonenumbers.region_code_for_number(number)
        if region not in settings.SMS_ALLOWED_COUNTRIES:
            raise _invalid("phone", "Enter a number in a country the clinic texts.")
        raise _invalid("phone", "Enter a mobile number: the code comes by text.")
    if number.as_e164 in _clinic_numbers():
        raise _invalid("phone", "That is one of the clinic's own numbers: enter your own.")
    return number.as_e164


def _code_hash(*, user_id: int, phone: str, code: str) -> str:
    # Keyed (LOOKUP_HASH_KEY), and bound to the user and the number: a copied hash
    # proves nothing elsewhere, and a database reader cannot try the million codes.
    return lookup_hash(f"staff-phone-code:{user_id}:{phone}:{code}")


def _settings_locked(user_id: int) -> StaffCallSettings:
    StaffCallSettings.objects.get_or_create(user_id=user_id)
    return StaffCallSettings.objects.select_for_update().get(user_id=user_id)


def staff_phone_set(*, user_id: int, phone: str) -> StaffCallSettings:
    """Store ``phone`` as the member of staff's own, unverified, and text it a code
    (after commit). A different number than before is unverified and takes no
    instant calls until confirmed; the same number, already confirmed, changes
    nothing and sends nothing. Asking again for the same unconfirmed number sends a
    new code (the old one stops working), at most every ``CODE_RESEND_AFTER``.

    Refused with a field error: an invalid number, one that cannot take the clinic's
    texts (opted out, not mobile, another country) or one of the clinic's own."""
    e164 = staff_phone_parse(phone=phone)
    block = notification_selectors.sms_block_get(phone=e164)
    if block is not None:
        raise _invalid(
            "phone",
            "This number does not take the clinic's texts (it replied STOP or cannot get "
            "texts): text START to the clinic from it, or enter another number.",
        )
    now = timezone.now()
    with transaction.atomic():
        row = _settings_locked(user_id)
        if row.phone == e164 and row.verified_at is not None:
            return row
        if (
            row.phone == e164
            and row.code_sent_at is not None
            and now - row.code_sent_at < CODE_RESEND_AFTER
        ):
            raise ApplicationError(
                "A code was just sent to this number; wait a few seconds before asking again.",
                code="code_recently_sent",
                status_code=429,
            )
        key = f"staff-phone-codes:{user_id}"
        cache.add(key, 0, timeout=3600)
        if cache.incr(key) > CODES_PER_HOUR:
            raise ApplicationError(
                "Too many codes this hour: try again later, or ask a supervisor.",
                code="code_limit",
                status_code=429,
            )
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        row.phone = e164
        row.phone_hash = phone_hash(e164)
        row.verified_at = None
        row.available = False
        row.available_since = None
        row.code_hash = _code_hash(user_id=user_id, phone=e164, code=code)
        row.code_sent_at = now
        row.code_expires_at = now + CODE_LIFETIME
        row.code_tries = 0
        row.save()
        notification_services.message_send(
            channel=Message.Channel.SMS,
            purpose=Message.Purpose.STAFF_CODE,
            recipient=e164,
            template="staff_phone_code",
            context={"verification_code": code},
            correlation=f"staff:{user_id}",
            # A code nobody can use any more is not worth retrying.
            give_up_at=row.code_expires_at,
        )
    return row


@dataclass(frozen=True)
class _Refusal:
    code: str
    message: str


def staff_phone_verify(*, user_id: int, code: str) -> StaffCallSettings:
    """Confirm the member of staff's phone with the code texted to it.

    Refused with a field error on ``code``, changing nothing but the count of wrong
    tries: no code pending (``no_code``), the phone already confirmed
    (``already_verified``), an expired code (``code_expired``), a code past
    ``CODE_TRIES`` wrong tries (``code_locked``) or a wrong one (``code_wrong``).
    Something that is not six digits is not a try (``invalid``)."""
    typed = "".join(code.split())
    if not (len(typed) == CODE_DIGITS and typed.isascii() and typed.isdigit()):
        raise _invalid("code", f"Enter the {CODE_DIGITS}-digit code from the text.")
    now = timezone.now()
    refusal: _Refusal | None = None
    with transaction.atomic():
        row = StaffCallSettings.objects.select_for_update().filter(user_id=user_id).first()
        if row is None or not row.code_hash:
            if row is not None and row.verified_at is not None:
                refusal = _Refusal("already_verified", "This phone is already confirmed.")
            else:
                refusal = _Refusal("no_code", "Enter your phone number first to get a code.")
        elif row.code_expires_at is None or now >= row.code_expires_at:
            refusal = _Refusal("code_expired", "This code has expired: ask for a new one.")
        elif row.code_tries >= CODE_TRIES:
            refusal = _Refusal("code_locked", "Too many wrong codes: ask for a new one.")
        elif not constant_time_compare(
            _code_hash(user_id=user_id, phone=row.phone, code=typed), row.code_hash
        ):
            row.code_tries += 1
            row.save(update_fields=["code_tries", "updated_at"])
            left = CODE_TRIES - row.code_tries
            refusal = _Refusal(
                "code_wrong",
                f"That is not the code: {left} {'try' if left == 1 else 'tries'} left."
                if left
                else "That is not the code, and it was the last try: ask for a new one.",
            )
        else:
            row.verified_at = now
            row.code_hash = ""
            row.code_expires_at = None
            row.code_tries = 0
            row.save()
    if refusal is not None:
        # Raised after the transaction: a wrong try must stay counted.
        raise _invalid("code", refusal.message, code=refusal.code)
    assert row is not None
    return row


def staff_availability_set(*, user_id: int, available: bool) -> StaffCallSettings:
    """Take instant calls for new requests (``available``), or stop. Only with a
    confirmed phone (``phone_not_verified`` otherwise). Saying the same twice keeps
    ``available_since``: the longest-waiting member of staff stays first."""
    with transaction.atomic():
        row = _settings_locked(user_id)
        if available and (row.verified_at is None or not row.phone):
            raise _invalid(
                "available",
                "Confirm your phone first: instant calls ring it.",
                code="phone_not_verified",
            )
        if row.available != available:
            row.available = available
            row.available_since = timezone.now() if available else None
            row.save(update_fields=["available", "available_since", "updated_at"])
    return row
