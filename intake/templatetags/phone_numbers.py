"""Phone numbers as people read them: ``{{ number|phone_national }}`` shows
``(475) 329-2686``; ``{{ number|phone_e164 }}`` is what a ``tel:`` link dials.

Storage and the API keep E.164; these filters are for display only. A number
from another country than the clinic's (``PHONENUMBER_DEFAULT_REGION``) is shown
in international format, since its national form would not dial from here."""

from __future__ import annotations

import phonenumbers
from django import template
from django.conf import settings

register = template.Library()


def _parse(value: object) -> phonenumbers.PhoneNumber | None:
    if value is None or value == "":
        return None
    if isinstance(value, phonenumbers.PhoneNumber):
        return value
    try:
        number = phonenumbers.parse(str(value), settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


@register.filter
def phone_national(value: object) -> str:
    """``+14753292686`` -> ``(475) 329-2686``; anything unparsable is shown as given."""
    number = _parse(value)
    if number is None:
        return "" if value is None else str(value)
    region = phonenumbers.region_code_for_number(number)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if region == settings.PHONENUMBER_DEFAULT_REGION
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


@register.filter
def phone_e164(value: object) -> str:
    """The number as a ``tel:`` link dials it: ``+14753292686``."""
    number = _parse(value)
    if number is None:
        return "" if value is None else str(value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
