"""Intake's API views, one module per concern: ``leads`` (a callback request and the
staff's view of one lead), ``events`` (the call to action's beacons and its
configuration) and ``reports`` (marketing's conversion funnel).

Three public endpoints, each ``AllowAny`` with a throttle, no authentication and
so no cookies: ``POST /api/v1/leads/``, ``POST /api/v1/events/`` and
``GET /api/v1/cta/``; they share ``PublicApi`` and ``ERRORS`` below. Every error
leaves in clinic.errors' one shape.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.utils.serializer_helpers import BindingDict
from rest_framework.views import APIView

from clinic.errors import ErrorSerializer
from intake.parsers import BoundedJSONParser

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, "Invalid fields, malformed JSON."),
    413: OpenApiResponse(ErrorSerializer, "Body over 64 KB."),
    415: OpenApiResponse(ErrorSerializer, "Body not JSON."),
    429: OpenApiResponse(ErrorSerializer, "Throttled; see the Retry-After header (seconds)."),
}


class PublicApi(APIView):
    """Anyone may call it; no authentication, so no session and no cookie."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    parser_classes = [BoundedJSONParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # DRF reads a body without a Content-Type as empty; it is not JSON.
        if request.method == "POST" and not request.content_type and _has_body(request):
            raise UnsupportedMediaType("", detail="Send the body as application/json.")


def _has_body(request: Request) -> bool:
    meta = request.META
    try:
        return int(meta.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return True


class OnceBoundSerializer(serializers.Serializer):
    """An input serializer whose fields are made and bound once per class, not once
    per instance.

    DRF deep-copies every declared field (nested serializers included) for each
    serializer it makes, so that one instance's binding never leaks into another's;
    for the public POST that copy was the largest part of validating its one body
    (docs/profiles.md, issue 24). The fields of these serializers keep no state
    between calls (no validator reads the context, the instance or the root, and the
    errors are the serializer's own), so fields bound once to a template instance
    validate every request, in every thread, with DRF's own rules and messages."""

    @property
    def fields(self) -> BindingDict:  # type: ignore[override]
        cls = type(self)
        shared = cls.__dict__.get("_once_bound_fields")
        if shared is None:
            # Two threads may both build it on a class's first use; either is right.
            template = cls()
            shared = BindingDict(template)
            for name, field in template.get_fields().items():
                shared[name] = field
            cls._once_bound_fields = shared
        return shared
