"""The development outbox: every SMS and email the app sent, on one page."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from notifications.selectors import message_list


@require_GET
def dev_outbox(request: HttpRequest) -> HttpResponse:
    # Development only: it shows message bodies and recipients to anyone.
    if not settings.DEVELOPMENT:
        raise Http404
    return render(request, "notifications/dev_outbox.html", {"messages_sent": message_list()})
