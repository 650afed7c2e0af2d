"""Throttles of the public API, on the shared cache (Redis in production).

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, read per request.
Keys hold a keyed hash, never a phone number or an IP.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


def _keyed_hash(value: str) -> str:
    """A throttle key that does not put a phone number or an IP in the cache."""
    digest = hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


class _RateFromSettings(SimpleRateThrottle):
    """DRF reads throttle rates once, at import; these read them per request, so
    settings (and tests' overrides) take effect at once."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class LeadSubmitPhoneThrottle(_RateFromSettings):
    """Submissions per phone number, whatever the IP (SMS pumping, harassment)."""

    scope = "lead_submit_phone"

    def __init__(self, *, phone: str) -> None:
        super().__init__()
        self.phone = phone

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": _keyed_hash(self.phone)}


class LeadSubmitEmailThrottle(LeadSubmitPhoneThrottle):
    """Submissions per email address, whatever the IP (mail bombing, harassment)."""

    scope = "lead_submit_email"

    def __init__(self, *, email: str) -> None:
        super().__init__(phone=email)


class _HashedIpThrottle(_RateFromSettings):
    """Per client IP (behind ``NUM_PROXIES`` proxies), keyed by a hash of it."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        ident = _keyed_hash(self.get_ident(request) or "")
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LeadSubmitIpThrottle(_HashedIpThrottle):
    scope = "lead_submit_ip"


class LeadSubmitSubnetThrottle(_HashedIpThrottle):
    """Per network (/24 of IPv4, /56 of IPv6): one host rotating its addresses."""

    scope = "lead_submit_subnet"

    def get_ident(self, request: Any) -> str:
        address = super().get_ident(request) or ""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        prefix = 24 if ip.version == 4 else 56
        return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class CtaEventIpThrottle(_HashedIpThrottle):
    scope = "cta_event_ip"


class CtaConfigIpThrottle(_HashedIpThrottle):
    scope = "cta_config_ip"


def client_ip(request: HttpRequest | Request) -> str | None:
    """The client's address, honouring ``NUM_PROXIES`` trusted proxies in front."""
    return LeadSubmitIpThrottle().get_ident(request)
