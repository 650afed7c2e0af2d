"""Optional server-side verification of a Turnstile or hCaptcha token.

Off unless ``CAPTCHA_PROVIDER`` is set. Both providers take the same form POST
(``secret``, ``response``, ``remoteip``) and answer ``{"success": bool, ...}``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from enum import Enum

from django.conf import settings

logger = logging.getLogger(__name__)

VERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
}


class CaptchaVerdict(Enum):
    PASSED = "passed"
    FAILED = "failed"
    #: The provider could not be asked (timeout, outage, garbled answer).
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class CaptchaVerifier:
    provider: str
    secret: str
    verify_url: str
    timeout: float

    @classmethod
    def from_settings(cls) -> CaptchaVerifier | None:
        """The configured verifier, or None when no provider is configured."""
        provider = settings.CAPTCHA_PROVIDER
        if not provider:
            return None
        return cls(
            provider=provider,
            secret=settings.CAPTCHA_SECRET,
            verify_url=settings.CAPTCHA_VERIFY_URL or VERIFY_URLS[provider],
            timeout=settings.CAPTCHA_TIMEOUT_SECONDS,
        )

    def verify(self, *, token: str, remote_ip: str | None = None) -> CaptchaVerdict:
        if not token:
            return CaptchaVerdict.FAILED
        fields = {"secret": self.secret, "response": token}
        if remote_ip:
            fields["remoteip"] = remote_ip
        request = urllib.request.Request(  # noqa: S310 (an https URL from settings)
            self.verify_url,
            data=urllib.parse.urlencode(fields).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read(64 * 1024))
        except (OSError, ValueError) as error:  # URLError, timeouts and bad JSON
            logger.warning(
                "intake.captcha.unavailable",
                extra={"provider": self.provider, "error": type(error).__name__},
            )
            return CaptchaVerdict.UNAVAILABLE
        if isinstance(answer, dict) and answer.get("success") is True:
            return CaptchaVerdict.PASSED
        return CaptchaVerdict.FAILED
