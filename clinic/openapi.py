"""What every API operation's schema says beyond its own fields (issue 22, item 7).

The error answers in the one shape (clinic.errors), each saying when it comes, and the
rules the server checks that OpenAPI 3 cannot state: between fields ("end after
start"), against stored data ("an existing lead") or a library's judgement ("a number
that can be called"). An operation names them with ``extensions=server_rules(...)``,
by the field its 400 names; :func:`describe_server_rules` (a drf-spectacular
postprocessing hook) writes them into the operation's description as well, so a reader
of /api/docs/ sees them and a client (or a contract test) can read them as data under
``x-server-rules``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from clinic.errors import ErrorSerializer

RULES = "x-server-rules"


def error(description: str) -> OpenApiResponse:
    """An error answer in the one shape, saying when it comes."""
    return OpenApiResponse(ErrorSerializer, description=description)


INVALID = error("Invalid fields (field errors under `fields`), or malformed JSON.")
FORBIDDEN = error("Not signed in (with a verified second factor), or without the role.")
NOT_FOUND = error(
    "Nothing by that id, or a path that names nothing under /api/ (code `not_found`)."
)
NOT_HOLDER = error("You do not hold this callback's claim (code `not_holder`).")
THROTTLED = error("Throttled; see the Retry-After header (seconds).")


def server_rules(**by_field: str) -> dict[str, Any]:
    """``@extend_schema(extensions=...)``: each field's rules past the schema; breaking
    one answers 400 in the error shape with that field under ``fields``."""
    return {RULES: by_field}


def describe_server_rules(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Append each operation's ``x-server-rules`` to its description."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            rules = operation.get(RULES) if isinstance(operation, dict) else None
            if not rules:
                continue
            lines = "\n".join(f"- `{field}`: {rule}" for field, rule in rules.items())
            text = "Rules the server checks beyond this schema (a 400 names the field):\n\n" + lines
            description = operation.get("description", "").rstrip()
            operation["description"] = f"{description}\n\n{text}" if description else text
    return result
