"""The client's address, behind the reverse proxies we trust and no others.

``X-Forwarded-For`` is a list anyone can start: a client sends its own, and each
proxy appends the address it saw. Only the entries added by our own proxies are
true, so the header is read only when the connection itself comes from one of them
(``REMOTE_ADDR`` in ``TRUSTED_PROXIES``, a list of networks), and then from the right:
the client is the right-most entry that is not one of our proxies. Whatever a client
wrote to the left of that is ignored; a client talking to the app directly gets its
own ``REMOTE_ADDR`` whatever it sends. Counting hops instead (DRF's ``NUM_PROXIES``)
trusts a spoofed entry as soon as a request arrives by another path than the counted
one, or the chain changes length.

Every reader of the client address uses :func:`client_address`: the API throttles,
/readyz's throttle, django-axes' sign-in lockout and the audit trail's "from where".
"""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def proxy_networks(values: list[str]) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` as networks; raises ImproperlyConfigured for a bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {value!r} is not an address or a network (CIDR)"
            ) from error
    return tuple(networks)


@cache
def _trusted() -> tuple[Network, ...]:
    return proxy_networks(list(settings.TRUSTED_PROXIES))


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "TRUSTED_PROXIES":
        _trusted.cache_clear()


setting_changed.connect(_forget, dispatch_uid="clinic.proxies.forget")


def _address(text: str) -> Address | None:
    """An address as a header or the server writes it: "192.0.2.1", "192.0.2.1:443",
    "2001:db8::1", "[2001:db8::1]:443"; an IPv4 address mapped into IPv6 as IPv4."""
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address) -> bool:
    return any(address in network for network in _trusted())


def client_address(request: Any) -> str | None:
    """The address of the client behind our trusted proxies (see the module): a
    Django or DRF request, or a WSGI environ / ``request.META``. None if unknown."""
    meta = request if isinstance(request, dict) else request.META
    remote = _address(meta.get("REMOTE_ADDR", "") or "")
    if remote is None:
        return None
    if not _is_trusted(remote):
        return str(remote)
    hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # Not an address: nobody we trust wrote it, and nothing left of it counts.
            break
        client = address
        if not _is_trusted(address):
            break
    return str(client)
