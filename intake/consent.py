"""The consent wording the CTA shows, by version. Versions are never edited, only added."""

from __future__ import annotations

import functools
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

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def consent_text(version: str | None = None) -> ConsentText:
    """The consent text of ``version`` (default: the current one), with the clinic named."""
    version = version or settings.CONSENT_TEXT_VERSION
    # Built once per process for each wording and clinic name (every public POST asks).
    return _consent_text(version, CONSENT_TEXTS[version], settings.CLINIC_NAME)


@functools.lru_cache(maxsize=32)
def _consent_text(version: str, wording: str, clinic: str) -> ConsentText:
    return ConsentText(version, wording.format(clinic=clinic))
