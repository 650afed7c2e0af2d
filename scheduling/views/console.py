"""The coordinators' console (server-rendered, refreshed with htmx): the queue, claiming
the next callback, holding and assigning, preferences, and the consultations list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_POST

from clinic import roles
from clinic.errors import ApplicationError
from intake import services as intake_services
from scheduling import console_page, selectors, services
from scheduling.models import Callback
from scheduling.selectors.self_booking import appointment_last_changes

CARE = (roles.COORDINATOR, roles.SUPERVISOR)


# The session key naming the attempt just logged, for the console's banner (an id, so
# no name travels in the messages cookie).
LOGGED_KEY = "console_logged_attempt"


# The head of the queue, as the console polls it every few seconds: coordinators take
# "Next callback" rather than pick from a long table, and the counts above it give the
# whole queue. 50 rows, like the API's page (200 cost four times the rendering).
QUEUE_ROWS = 50


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue table, worked out here once: the fragment is polled every
    few seconds by every console, and a template lookup or filter per cell costs more
    than the database does."""

    callback: Callback
    pk: int
    url: str
    first_name: str
    urgent: bool
    replied: bool
    tries: int  # the try this is (2, 3, ...), or 0 for the first call
    due: str  # "retry", "overdue" or "due"
    due_text: str
    prefers: str
    article: str
    holder: str
    #: The row's ``<tr>``, written once here (see :func:`_row_html`).
    html: str


def _span(seconds: float) -> str:
    """A length of time as ``timesince`` writes it (two largest units), without its
    per-call calendar arithmetic."""
    minutes = max(0, int(seconds // 60))
    parts = []
    for unit, size in (("day", 24 * 60), ("hour", 60), ("minute", 1)):
        count, minutes = divmod(minutes, size)
        if count or (unit == "minute" and not parts):
            parts.append(f"{count}\xa0{unit}{'' if count == 1 else 's'}")
        if len(parts) == 2:
            break
    return ", ".join(parts[:2])


def _row_html(
    *,
    pk: int,
    url: str,
    first_name: str,
    urgent: bool,
    replied: bool,
    tries: int,
    due: str,
    due_text: str,
    prefers: str,
    article: str,
    holder: str,
) -> SafeString:
    """A queue row's ``<tr>``, as a template would write it (every value escaped), in
    one string: 50 rows of a dozen template lookups and tags each were a third of the
    polled fragment's time."""
    badges = (
        (' <span class="badge bad">Urgent</span>' if urgent else "")
        + (' <span class="badge warn">Replied</span>' if replied else "")
        + (f' <span class="badge">Try {tries}</span>' if tries else "")
    )
    when = escape(due_text)
    if due == "retry":
        when = f"retry in {when}"
    elif due == "overdue":
        when = f'<span class="badge warn">Overdue</span> {when}'
    else:
        when = f"in {when}"
    status = f"With {escape(holder)}" if holder else "Open"
    return mark_safe(  # noqa: S308 - every value in it is escaped above
        f'\n    <tr class="{"urgent" if urgent else ""}" data-callback="{pk}">'
        f'\n      <td><a href="{escape(url)}">{escape(first_name)}</a>{badges}</td>'
        f"\n      <td>{when}</td>"
        f"\n      <td>{escape(prefers)}</td>"
        f'\n      <td class="wide">{escape(article) if article else "—"}</td>'
        f"\n      <td>{status}</td>"
        "\n    </tr>\n  "
    )


# "Call, any time" by (language, channel, best time): the choices' labels are fixed, and
# looking each up through get_FOO_display() was a tenth of the page.
_PREFERS: dict[tuple[str, str, str], str] = {}


def _prefers(lead) -> str:
    key = (get_language(), lead.preferred_channel, lead.best_time)
    if key not in _PREFERS:
        _PREFERS[key] = (
            f"{lead.get_preferred_channel_display()}, {lead.get_best_time_display().lower()}"
        )
    return _PREFERS[key]


def _queue_row(callback: Callback, *, now: datetime, url_prefix: str) -> QueueRow:
    lead = callback.lead
    if callback.retry_at and callback.retry_at > now:
        due, due_text = "retry", _span((callback.retry_at - now).total_seconds())
    elif callback.due_at < now:
        due, due_text = "overdue", _span((now - callback.due_at).total_seconds())
    else:
        due, due_text = "due", _span((callback.due_at - now).total_seconds())
    article = callback.submission.article
    shown = {
        "pk": callback.pk,
        "url": f"{url_prefix}{callback.pk}/",
        "first_name": lead.first_name,
        "urgent": callback.is_urgent,
        "replied": callback.patient_replied,
        "tries": callback.unanswered_attempts + 1 if callback.unanswered_attempts else 0,
        "due": due,
        "due_text": due_text,
        "prefers": _prefers(lead),
        "article": article.title if article else "",
        "holder": callback.claimed_by.get_username()
        if callback.status == Callback.Status.CLAIMED and callback.claimed_by
        else "",
    }
    return QueueRow(callback=callback, html=_row_html(**shown), **shown)


def _queue_place(callback: Callback, *, now: datetime) -> tuple:
    """Claim-next's order (``services.queue._queue_tiers``): urgent, overdue,
    patient replied, the rest, each by original due time."""
    return (
        not callback.is_urgent,
        not callback.due_at < now,
        not callback.patient_replied,
        callback.original_due_at,
        callback.pk,
    )


def _queue_context(*, user_id: int) -> dict:
    """The queue fragment: the first rows, the counts, open alerts with the callbacks a
    supervisor gave this user (three queries), and the audit trail's record of the
    names shown (at most one INSERT)."""
    now = timezone.now()
    callbacks = list(selectors.callback_queue_rows()[:QUEUE_ROWS])
    counts = selectors.callback_queue_counts()
    # A person who texted back moves up, as claim-next takes them: those beyond the
    # first rows are fetched only when there are any (one query more, rarely).
    if counts["replied"] > sum(callback.patient_replied for callback in callbacks):
        shown = {callback.pk for callback in callbacks}
        callbacks += [
            callback
            for callback in selectors.callback_queue_rows().filter(patient_replied=True)[
                :QUEUE_ROWS
            ]
            if callback.pk not in shown
        ]
    callbacks = sorted(callbacks, key=lambda callback: _queue_place(callback, now=now))
    callbacks = callbacks[:QUEUE_ROWS]
    alerts, notices = selectors.console_alerts(user_id=user_id)
    named = [alert.callback for alert in (*alerts, *notices)]
    _list_read([*callbacks, *named], what="callback queue")
    # /console/callbacks/<id>/ for every row, reversed once.
    url_prefix = reverse("scheduling:console-callback", args=[0]).removesuffix("0/")
    return {
        "rows": [_queue_row(callback, now=now, url_prefix=url_prefix) for callback in callbacks],
        "more": max(0, counts["open"] + counts["claimed"] - len(callbacks)),
        "counts": counts,
        "alerts": alerts,
        "notices": notices,
        "now": now,
    }


def _list_read(rows, *, what: str) -> None:
    """The audit trail: a list page showed these callbacks' or appointments' lead names."""
    intake_services.leads_access_record(leads=[row.lead for row in rows], what=what)


@require_GET
@roles.role_required(*CARE)
def console(request: HttpRequest) -> HttpResponse:
    context = _queue_context(user_id=request.user.pk)
    context["mine"] = selectors.callbacks_held_by(user_id=request.user.pk)
    now = context["now"]
    # What was just logged, by whom it was logged only, and what may still be undone.
    logged_id = request.session.pop(LOGGED_KEY, None)
    undoable = list(selectors.attempts_undoable(user_id=request.user.pk, now=now))
    logged = selectors.attempt_get(attempt_id=logged_id) if logged_id else None
    if logged is not None and logged.coordinator_id != request.user.pk:
        logged = None
    context["logged"] = console_page.logged_banner(logged, now=now) if logged else None
    context["undoable"] = [
        console_page.logged_banner(attempt, now=now)
        for attempt in undoable
        if logged is None or attempt.pk != logged.pk
    ]
    context["shortcuts"] = selectors.console_shortcuts_enabled(user_id=request.user.pk)
    context["instant_calls"] = selectors.staff_call_settings_get(user_id=request.user.pk)
    shown = [*context["mine"], *(attempt.callback for attempt in undoable)]
    _list_read(shown + ([logged.callback] if logged else []), what="console")
    return render(request, "scheduling/console.html", context)


@require_GET
@roles.role_required(*CARE)
def console_queue(request: HttpRequest) -> HttpResponse:
    """The queue table alone, polled by the console every few seconds."""
    return render(request, "scheduling/_queue.html", _queue_context(user_id=request.user.pk))


@require_POST
@roles.role_required(*CARE)
def console_claim_next(request: HttpRequest) -> HttpResponse:
    callback = services.callback_claim_next(user_id=request.user.pk)
    if callback is None:
        messages.info(request, "Nothing is waiting right now.")
        return redirect("scheduling:console")
    return redirect("scheduling:console-callback", callback_id=callback.pk)


@require_POST
@roles.role_required(*CARE)
def console_preferences(request: HttpRequest) -> HttpResponse:
    """Turn one's own keyboard shortcuts on or off, then back to the page it was."""
    services.console_preference_set(
        user_id=request.user.pk, shortcuts_enabled=request.POST.get("shortcuts") == "on"
    )
    messages.success(
        request,
        "Keyboard shortcuts are on."
        if request.POST.get("shortcuts") == "on"
        else "Keyboard shortcuts are off.",
    )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("scheduling:console")
    return redirect(back)


@require_POST
@roles.role_required(*CARE)
def console_release(request: HttpRequest, callback_id: int) -> HttpResponse:
    if services.callback_release(callback_id=callback_id, user_id=request.user.pk):
        messages.info(request, "Callback returned to the queue.")
    return redirect("scheduling:console")


@require_POST
@roles.role_required(roles.SUPERVISOR)
def console_assign(request: HttpRequest, callback_id: int) -> HttpResponse:
    try:
        to_user_id = int(request.POST.get("user_id", ""))
    except ValueError:
        messages.error(request, "Choose a coordinator.")
        if request.POST.get("from") == "board":
            return redirect("scheduling:console-board")
        return redirect("scheduling:console-callback", callback_id=callback_id)
    target = get_user_model().objects.filter(pk=to_user_id, is_active=True).first()
    if target is None or not roles.has_role(target, *CARE):
        messages.error(request, "That person is not a coordinator.")
        if request.POST.get("from") == "board":
            return redirect("scheduling:console-board")
        return redirect("scheduling:console-callback", callback_id=callback_id)
    try:
        services.callback_assign(
            callback_id=callback_id, to_user_id=to_user_id, by_user_id=request.user.pk
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        told = "" if to_user_id == request.user.pk else "; they were told"
        messages.success(request, f"Callback reassigned to {target.get_username()}{told}.")
    return redirect("scheduling:console-board")


@require_GET
@roles.role_required(*CARE)
def console_appointments(request: HttpRequest) -> HttpResponse:
    appointments = list(selectors.appointments_upcoming()[:200])
    _list_read(appointments, what="appointments")
    # Who made each consultation's latest change (a coordinator, or the person).
    last_changes = appointment_last_changes(appointment_ids=[each.pk for each in appointments])
    for appointment in appointments:
        appointment.last_change = last_changes.get(appointment.pk)  # type: ignore[attr-defined]
    return render(
        request,
        "scheduling/appointments.html",
        {"appointments": appointments, "now": timezone.now()},
    )


@require_POST
@roles.role_required(*CARE)
def console_appointment_mark(request: HttpRequest, appointment_id: int) -> HttpResponse:
    action = request.POST.get("action", "")
    try:
        if action in ("attended", "no_show"):
            services.appointment_mark(appointment_id=appointment_id, attended=action == "attended")
        elif action == "cancel":
            services.appointment_cancel(
                appointment_id=appointment_id, by_person=False, cancelled_by_id=request.user.pk
            )
        elif action == "admitted":
            services.appointment_admit(appointment_id=appointment_id)
        else:
            raise ApplicationError("Unknown action.")
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Saved.")
    return redirect("scheduling:console-appointments")
