"""Middleware that must run before anything else."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from config import views


class HealthCheckMiddleware:
    """Answer ``/healthz`` before host validation and HTTPS redirects, so a load
    balancer probing a container by IP address gets 200 instead of 400 or 301."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz" and request.method in ("GET", "HEAD"):
            return views.healthz(request)
        return self.get_response(request)


class ClinicTimeZoneMiddleware:
    """Pages show times in the clinic's zone (coordinators work in clinic time); the
    API keeps answering in UTC, which machines expect."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(("/api/", "/webhooks/")):
            return self.get_response(request)
        with timezone.override(ZoneInfo(settings.CLINIC_TIME_ZONE)):
            return self.get_response(request)
