"""Marketing's reports read from a replica when ``REPORTS_DATABASE_URL`` is set.

Reports are aggregates over rollup tables, read often and written only by the
nightly and per-minute rollup tasks; a streaming replica a few seconds behind is
good enough for them and keeps their scans off the primary that takes leads.

Only the report views (``REPORT_VIEWS``) read from it, and only the models of
the apps that hold report data: sign-in, sessions and everything else in the
same request stay on the primary, so a lagging replica can never sign someone
out or hide a row they just wrote. Writes always go to the primary.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

REPORTS_DATABASE = "reports"
# URL names of the views whose reads may go to the replica.
REPORT_VIEWS = frozenset({"reports:reports-dashboard", "api:reports-articles"})
# Apps whose tables the reports read (articles, rollups).
REPORT_APPS = frozenset({"intake"})

_reading_reports: ContextVar[bool] = ContextVar("reading_reports", default=False)


class ReportsReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if _reading_reports.get() and model._meta.app_label in REPORT_APPS:
            return REPORTS_DATABASE
        return None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # Both databases hold the same rows: a replica object may point at a primary one.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The replica follows the primary's schema; it is never migrated itself.
        return False if db == REPORTS_DATABASE else None


class ReportsReplicaMiddleware:
    """Marks a request to a report view, so the router sends its report reads to the
    replica; unmarked again when the response is ready."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _reading_reports.set(False)
        try:
            return self.get_response(request)
        finally:
            _reading_reports.reset(token)

    def process_view(
        self, request: HttpRequest, view: Callable, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is not None and match.view_name in REPORT_VIEWS:
            _reading_reports.set(True)
        return None
