"""Where a plain (no-JavaScript) call-to-action form post comes from.

The form is public and carries no session, so Django's CSRF check does not apply; but
another site could still put a form on its pages that posts here, and make its
visitors request callbacks (or, crafted, send in their data) without knowing it. So a
post is accepted only from the clinic's own pages:

- its ``Origin`` (or, when the browser sends none, its ``Referer``) is the site itself
  (the request's own host, or ``PUBLIC_BASE_URL``) or one of ``CTA_ALLOWED_ORIGINS``;
- or, when the browser names no origin at all, the form's signed per-page token
  (:func:`form_token`, a hidden field of the article's form, bound to the article and
  valid for ``FORM_TOKEN_MAX_AGE``) vouches for it.

A header that names another site wins over a token: a token is public (anyone can
fetch the article page), a browser's ``Origin`` is not something a page can forge. A
page that hides its origin (``Referrer-Policy: no-referrer`` sends ``Origin: null``)
is still known to be another site by ``Sec-Fetch-Site``, which modern browsers send
whatever the referrer policy; only a browser that sends none of these headers needs
the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest

FORM_SALT = "intake.cta-form"
# The hidden field that carries the token.
FORM_FIELD = "cta_form_token"
# Long enough for a reader who leaves the article open for the day.
FORM_TOKEN_MAX_AGE = timedelta(hours=24)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class FormOrigin:
    allowed: bool
    #: Why, in a word, for the log: "origin", "referer", "same-origin", "token",
    #: "foreign-origin", "foreign-referer", "cross-site", "no-origin".
    reason: str


def form_token(*, article_slug: str) -> str:
    """The hidden field of an article's form: signed, bound to the article, dated."""
    return signing.dumps({"a": article_slug}, salt=FORM_SALT)


def _token_valid(token: str, *, article_slug: str) -> bool:
    try:
        value = signing.loads(token, salt=FORM_SALT, max_age=FORM_TOKEN_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return False
    return isinstance(value, dict) and value.get("a") == article_slug


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or an origin; None if it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def _clinic_origins(request: HttpRequest) -> set[tuple[str, str, int]]:
    """The site itself (as this request reached it, and as PUBLIC_BASE_URL names it)
    and the clinic's other sites (CTA_ALLOWED_ORIGINS)."""
    urls = [
        f"{request.scheme}://{request.get_host()}",
        settings.PUBLIC_BASE_URL,
        *settings.CORS_ALLOWED_ORIGINS,
    ]
    return {origin for url in urls if (origin := _origin_of(url)) is not None}


def form_post_origin(request: HttpRequest, *, article_slug: str) -> FormOrigin:
    """Whether a plain form post to ``article_slug`` comes from the clinic's own pages
    (see the module)."""
    origin = request.headers.get("Origin", "").strip()
    if origin and origin != "null":
        if _origin_of(origin) in _clinic_origins(request):
            return FormOrigin(True, "origin")
        return FormOrigin(False, "foreign-origin")
    fetch_site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if fetch_site == "same-origin":
        return FormOrigin(True, "same-origin")
    if fetch_site in {"same-site", "cross-site"}:
        # Another page, which hid its origin: nothing says which.
        return FormOrigin(False, "cross-site")
    referer = request.headers.get("Referer", "").strip()
    if not origin and referer:
        if _origin_of(referer) in _clinic_origins(request):
            return FormOrigin(True, "referer")
        return FormOrigin(False, "foreign-referer")
    if _token_valid(request.POST.get(FORM_FIELD, ""), article_slug=article_slug):
        return FormOrigin(True, "token")
    return FormOrigin(False, "no-origin")
