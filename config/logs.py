"""Structured JSON logs (structlog) that carry no personal data.

Every record, from structlog or from the standard library (Django, Celery, our
``logging.getLogger`` calls), leaves through one formatter
(``settings.LOGGING["formatters"]["json"]``) whose last step before rendering is
:func:`redact`: values under personal keys are replaced, and phone numbers,
email addresses and signed-link tokens are masked wherever they appear in text.
Request and task ids come from context variables (``config.middleware.RequestIdMiddleware``
and the Celery signals in ``config.celery``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Keys whose values are personal (or free text a person wrote), at any depth.
PERSONAL_KEYS = frozenset(
    {
        "first_name",
        "last_name",
        "name",
        "full_name",
        "phone",
        "phone_number",
        "email",
        "message",
        "notes",
        "note",
        "body",
        "to",
        "from",
        "from_",
        "recipient",
        "recipients",
        "address",
        "ip",
        "ip_address",
        "remote_addr",
        "user_agent",
        # A screening's clinical values (intake.models.Screening), should one be logged.
        "answers",
        "score",
        "band",
        "presenting_concern",
        "level_of_care",
        # A lead's insurance (intake.models.insurance), and what a form gave of it.
        "payer",
        "plan_type",
        "member_id",
        "group_number",
        "insurance_payer",
        "insurance_member_id",
    }
)
# Rendered text (the event, a traceback) is masked by pattern instead.
_STRUCTURAL_KEYS = frozenset({"event", "level", "logger", "timestamp", "exception"})

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# E.164 (+12025550143) and common national formats ((202) 555-0143, 202-555-0143,
# 202.555.0143, 2025550143), not inside a longer run of letters or digits (ids, hashes).
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d[\d\s().-]{6,18}\d|\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}|\d{10,11})(?![\w])"
)
# Signed links open a person's request (/r/), consultation (/a/), booking page (/b/) or
# waitlist offer (/w/) without an account: whoever reads one in a log holds the key.
_SIGNED_LINK = re.compile(r"(/[rabw]/)[A-Za-z0-9_:.\-]{16,}")


# A URL's query string carries what the visitor's link said (UTM values, which anyone
# can set to an email address or a name): "Not Found: /r/x/?utm_campaign=..."
_QUERY = re.compile(r"(?<=[\w/])\?[^\s\"'<>?]*=[^\s\"'<>]*")


def redact_text(text: str) -> str:
    text = _QUERY.sub("?[query]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _SIGNED_LINK.sub(r"\1[token]", text)


def redact_value(value: Any, *, key: str | None = None) -> Any:
    if key is not None and key.lower() in PERSONAL_KEYS:
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def redact(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last step before rendering."""
    redacted = {}
    for key, value in event_dict.items():
        if key in _STRUCTURAL_KEYS:
            redacted[key] = redact_text(value) if isinstance(value, str) else value
        else:
            redacted[key] = redact_value(value, key=key)
    return redacted


# Attributes every LogRecord has; anything else came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}


def add_record_extras(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Copy ``extra={...}`` of a standard-library record into the event (redacted later)."""
    record = event_dict.get("_record")
    if record is not None:
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


# Both chains end in the formatter's processors, so structlog and standard-library
# records are redacted and rendered the same way.
SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter_processors(*, console: bool = False) -> list[Any]:
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        redact,
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer(),
    ]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def json_formatter(*, console: bool = False) -> dict[str, Any]:
    """The ``LOGGING`` formatter entry (dictConfig's ``()`` factory form)."""
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": formatter_processors(console=console),
        "foreign_pre_chain": [*SHARED_PROCESSORS, add_record_extras],
    }
