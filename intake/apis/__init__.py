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
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
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
