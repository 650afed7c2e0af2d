"""Bounded JSON parsing for the public API.

DRF's ``JSONParser`` reads the request stream itself, so Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` never applies to it. These parsers refuse a body
over ``INTAKE_MAX_BODY_BYTES`` with 413 (by its Content-Length, or by the bytes
actually read), and answer 400 for anything that is not strict JSON, including
nesting deep enough to exhaust the recursion limit.
"""

from __future__ import annotations

import json
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from clinic.errors import RequestBodyTooLarge


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _declared_length(parser_context: dict[str, Any]) -> int:
    request = parser_context.get("request")
    if request is None:
        return 0
    meta = request.META
    try:
        return int(meta.get("CONTENT_LENGTH") or meta.get("HTTP_CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


class BoundedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        limit = settings.INTAKE_MAX_BODY_BYTES
        if _declared_length(parser_context) > limit:
            raise RequestBodyTooLarge()
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestBodyTooLarge()
        encoding = parser_context.get("encoding") or settings.DEFAULT_CHARSET
        try:
            return json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except (ValueError, RecursionError, LookupError) as error:
            raise ParseError(f"JSON parse error - {error}") from None


class PlainTextJSONParser(BoundedJSONParser):
    """JSON sent as ``text/plain``: what ``navigator.sendBeacon`` sends with a string
    body, the one way to post cross-origin without a CORS preflight."""

    media_type = "text/plain"
