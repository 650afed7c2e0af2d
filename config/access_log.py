"""Gunicorn's logger (``logger_class`` in gunicorn.conf.py): access lines that carry no
personal data, and an error log that does not quote requests.

Gunicorn's own access line is the Apache "combined" format: the client's address, the
whole request line (``/r/<signed token>/``, query strings with UTM values a submitter
typed, an email address among them), the referer (the article URL with its query) and
the user agent. Here each request is one JSON line, like the application's logs
(``config.logs``), with the method, the *route* (the Django URL pattern that matched,
``r/<str:token>/``, never the path), the view's name, the status, the duration, the
bytes sent and the request id. Never the path, query string, referer, user agent or
address: ``access_log_format`` is ignored.

Gunicorn's error log names the client's address and quotes the request line of a
request it could not parse, and the URI of one whose handling raised; those lines keep
the kind of error and the route only.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from gunicorn import glogging

from config.logs import redact_text

# What config.middleware.RequestIdMiddleware accepts as a caller's id.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
UNRESOLVED = "unresolved"


def route_of(path: str) -> tuple[str | None, str]:
    """(URL pattern, view name) of ``path``, or (None, "unresolved"): never the path."""
    try:
        from django.conf import settings
        from django.urls import Resolver404, resolve
    except Exception:  # Django not importable: nothing to resolve against
        return None, UNRESOLVED
    try:
        match = resolve(path)
    except Resolver404:
        static = getattr(settings, "STATIC_URL", "") or ""
        if static.startswith("/") and path.startswith(static):
            return f"{static}*", "static"
        return None, UNRESOLVED
    except Exception:  # settings not configured, a broken URLconf: not the log's concern
        return None, UNRESOLVED
    return match.route, match.view_name


def _path_info(environ: dict[str, Any]) -> str:
    """The path as Django sees it (``get_path_info``), without the query string."""
    raw = environ.get("PATH_INFO") or "/"
    try:
        return raw.encode("iso-8859-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return raw


def _status(resp: Any) -> int | None:
    status = getattr(resp, "status", None)
    if isinstance(status, str):
        status = status.split(None, 1)[0]
    try:
        return int(status)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _request_id(resp: Any, environ: dict[str, Any]) -> str | None:
    """The id the application answered with (X-Request-ID), else the caller's if it
    looks like an id."""
    for name, value in getattr(resp, "headers", None) or ():
        if name.lower() == "x-request-id" and _REQUEST_ID.match(str(value)):
            return str(value)
    offered = str(environ.get("HTTP_X_REQUEST_ID", ""))
    return redact_text(offered) if _REQUEST_ID.match(offered) else None


def access_record(
    resp: Any, environ: dict[str, Any], request_time: datetime.timedelta
) -> dict[str, Any]:
    """What one access line says: nothing the caller chose but the method and route."""
    route, view = route_of(_path_info(environ))
    method = str(environ.get("REQUEST_METHOD", ""))
    sent = getattr(resp, "sent", None)
    return {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        "level": "info",
        "logger": "gunicorn.access",
        "event": "http.access",
        # A method is a token of letters; anything else is not worth repeating.
        "method": method if re.fullmatch(r"[A-Z]{1,16}", method) else "-",
        "route": route,
        "view": view,
        "status": _status(resp),
        "duration_ms": round(request_time.total_seconds() * 1000, 1),
        "bytes": sent if isinstance(sent, int) else None,
        "request_id": _request_id(resp, environ),
    }


# "Invalid request from ip=<address>: <error quoting the request line>"
_INVALID_REQUEST = re.compile(r"^Invalid request from ip=.*?: (?P<error>.*)$", re.DOTALL)


def _error_kind(error: str) -> str:
    """ "Invalid HTTP request line: 'GET /r/<token>/ ...'" -> "Invalid HTTP request line"."""
    kind = error.split(":", 1)[0]
    kind = re.sub(r"'.*", "", kind).strip()
    return redact_text(kind[:100]) or "unparsable request"


def redact_error(msg: Any, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """Gunicorn's error-log messages that quote a request, reduced to what went wrong."""
    if not isinstance(msg, str):
        return msg, args
    invalid = _INVALID_REQUEST.match(msg)
    if invalid:
        return "Invalid request: %s", (_error_kind(invalid.group("error")),)
    if msg.startswith("Error handling request %s"):
        uri = str(args[-1]) if args else ""
        route, view = route_of(uri.split("?", 1)[0])
        method = str(args[0]) if len(args) == 2 else "-"
        if not re.fullmatch(r"[A-Z]{1,16}", method):
            method = "-"
        return "Error handling request %s %s (%s)", (method, route or "-", view)
    return msg, args


def _redacted(msg: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    message, arguments = redact_error(msg, args)
    return (message, *arguments)


class RedactingLogger(glogging.Logger):
    """gunicorn's Logger with the access line and the error log described above."""

    def access(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta
    ) -> None:
        if not self.access_log_enabled:
            return
        try:
            line = json.dumps(access_record(resp, environ, request_time))
        except Exception:
            self.error("Could not build the access log line", exc_info=True)
            return
        self.access_log.info("%s", line)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().critical(*_redacted(msg, args), **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().error(*_redacted(msg, args), **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().warning(*_redacted(msg, args), **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().info(*_redacted(msg, args), **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().debug(*_redacted(msg, args), **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().exception(*_redacted(msg, args), **kwargs)

    def log(self, lvl: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().log(lvl, *_redacted(msg, args), **kwargs)
