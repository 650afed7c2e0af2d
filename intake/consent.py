"""The consent wording the CTA shows, by version. Versions are never edited, only added."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings

CONSENT_TEXTS: dict[str, str] = {
    "2026-11-sms-v1": (
        "I agree to receive text messages from {clinic} about my request, "
        "such as a confirmation and scheduling. Message frequency varies. "
        "Msg & data rates may apply. Reply STOP to opt out, HELP for help. "
        "Consent is not a condition of care."
    ),
}


@dataclass(frozen=True)
class ConsentText:
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def consent_text(version: str | None = None) -> ConsentText:
    """The consent text of ``version`` (default: the current one), with the clinic named."""
    version = version or settings.CONSENT_TEXT_VERSION
    return ConsentText(version, CONSENT_TEXTS[version].format(clinic=settings.CLINIC_NAME))
