"""The supervisor's board: what is urgent, late, due and in progress, the alerts to act
on (acknowledge, reassign, decide on a crisis nobody reached), and each coordinator's
load. Supervisors only; the board's part that changes is polled every 5 s."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from clinic import business_time, roles
from clinic.errors import ApplicationError
from scheduling import selectors, services
from scheduling.selectors import speed as selectors_speed
from scheduling.views.console import _list_read


def _board_page(
    request: HttpRequest,
    *,
    errors: dict[int, dict[str, str]] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The board; after a refused decision, with the errors by its fields (``errors``
    by callback id, then field) and what was typed kept."""
    board = selectors.supervisor_board()
    shown = [
        *board["urgent"],
        *board["overdue"],
        *board["due_soon"],
        *board["in_progress"],
        *(row.alert.callback for row in board["alerts"]),
    ]
    _list_read(shown, what="supervisor board")
    board["load"] = board["coordinators"] = list(board["load"])
    for row in board["alerts"]:
        row.errors = (errors or {}).get(row.alert.callback_id, {})
    board["typed"] = typed or {}
    board["zone"] = business_time.clinic_zone()
    # Outside the polled part: a background poll (every 5 s) only swaps that part in.
    if not request.headers.get("X-Background"):
        board["speed"] = _speed_section()
    return render(request, "scheduling/board.html", board, status=status)


def duration_words(seconds: float | None) -> str:
    """A median or p90 as a supervisor reads it: "45 s", "4 min 10 s", "2 h 05 min",
    "3 d 4 h"; a dash when there is none."""
    if seconds is None:
        return "\u2013"
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}\xa0s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}\xa0min {secs:02d}\xa0s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}\xa0h {minutes:02d}\xa0min"
    days, hours = divmod(hours, 24)
    return f"{days}\xa0d {hours}\xa0h"


def _shown(row: selectors_speed.SpeedRow | None) -> dict[str, object] | None:
    if row is None:
        return None
    return {
        "label": row.label,
        "conversations": row.conversations,
        **{
            f"{part}_{which}": duration_words(getattr(getattr(row, part), f"{which}_seconds"))
            for part in selectors_speed.PARTS
            for which in ("median", "p90")
        },
    }


def _speed_section() -> dict[str, object]:
    figures = selectors_speed.speed_board()
    return {
        "today": _shown(figures["today"]),
        "week": _shown(figures["week"]),
        "days": [_shown(row) for row in figures["days"]],
        "coordinators": [_shown(row) for row in figures["coordinators"]],
        "articles": [_shown(row) for row in figures["articles"]],
        "waiting": figures["waiting"],
    }


@require_GET
@roles.role_required(roles.SUPERVISOR)
def console_board(request: HttpRequest) -> HttpResponse:
    """The supervisor's view: urgent, overdue, due soon, in progress, alerts to act on,
    and load per coordinator; each count is its list's."""
    return _board_page(request)


@require_POST
@roles.role_required(roles.SUPERVISOR)
def console_alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    """A supervisor has seen an alert (a crisis alert stays until settled)."""
    try:
        alert = services.staff_alert_acknowledge(alert_id=alert_id, user_id=request.user.pk)
    except ApplicationError as error:
        if error.status_code == 404:
            raise Http404 from error
        messages.error(request, error.message)
    else:
        if alert.resolved_at is None:
            messages.success(
                request, "Acknowledged. It stays open until the person is reached or you decide."
            )
        else:
            messages.success(request, "Acknowledged and settled.")
    return redirect("scheduling:console-board")


@require_POST
@roles.role_required(roles.SUPERVISOR)
def console_crisis_decide(request: HttpRequest, callback_id: int) -> HttpResponse:
    """A supervisor settles a crisis nobody reached: keep trying at a time, or close it
    as unreachable, with why."""
    typed = {
        "retry_at": request.POST.get("retry_at", "")[:40],
        "reason": request.POST.get("reason", "")[:2000],
    }
    try:
        retry_at = parse_datetime(typed["retry_at"]) if typed["retry_at"] else None
    except ValueError:  # well formed, but no such day or time (2026-02-30T10:00)
        retry_at = None
    if retry_at is not None and timezone.is_naive(retry_at):
        retry_at = timezone.make_aware(retry_at, business_time.clinic_zone())
    try:
        if typed["retry_at"] and retry_at is None:
            raise ApplicationError(
                "The decision was not saved.", fields={"retry_at": ["Not a date and time."]}
            )
        decision = services.callback_crisis_decide(
            callback_id=callback_id,
            user_id=request.user.pk,
            action=request.POST.get("action", ""),
            reason=typed["reason"],
            retry_at=retry_at,
        )
    except ApplicationError as error:
        if error.status_code == 409:
            messages.error(request, error.message)
            return redirect("scheduling:console-board")
        fields = {name: " ".join(problems) for name, problems in (error.fields or {}).items()}
        return _board_page(
            request,
            errors={callback_id: fields or {"action": error.message}},
            typed={**typed, "callback_id": callback_id},
            status=400,
        )
    if decision.retry_at:
        when = timezone.localtime(decision.retry_at, business_time.clinic_zone())
        messages.success(request, f"Decision saved: keep trying at {when:%a %d %b %H:%M}.")
    else:
        messages.success(request, "Decision saved: closed as unreachable.")
    return redirect("scheduling:console-board")
