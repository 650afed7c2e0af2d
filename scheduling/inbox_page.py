"""The console's text inbox: every two-way SMS thread, newest first, with its unread
count, last text, assignee and urgency; a thread with its texts and the reply box.

The list and an open thread refresh themselves as the queue does (htmx polling a
fragment every few seconds, ``X-Background``). Every list and thread shown is on the
audit trail (``notifications.conversations``, and the leads whose names it shows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic import business_time, roles
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.models import Lead
from notifications import conversations
from notifications.models import Message, SmsConversation
from scheduling import selectors
from scheduling.services import inbox

CARE = (roles.COORDINATOR, roles.SUPERVISOR)
LIST_ROWS = 50
PREVIEW_CHARS = 80
FILTERS = {"all": "All", "mine": "Mine", "unassigned": "Unassigned", "unread": "Unread"}


@dataclass(frozen=True)
class InboxRow:
    pk: int
    who: str  # the lead's first name, else the number's last digits
    urgent: bool
    unread: int
    assignee: str
    last_from_person: bool
    preview: str
    last_at: datetime | None


def _masked(phone: str) -> str:
    return f"Number ending {phone[-4:]}" if len(phone) >= 4 else "Unknown number"


def _names(threads: list[SmsConversation]) -> dict[int, Lead]:
    ids = {thread.lead_id for thread in threads if thread.lead_id}
    return intake_selectors.leads_in_bulk(lead_ids=ids)


def _threads(*, user_id: int, which: str) -> list[SmsConversation]:
    if which == "mine":
        threads = conversations.conversation_list(assigned_to_id=user_id)
    elif which == "unassigned":
        threads = conversations.conversation_list(unassigned=True)
    elif which == "unread":
        threads = conversations.conversation_list(unread=True)
    else:
        threads = conversations.conversation_list()
    return list(threads[:LIST_ROWS])


def _list_context(request: HttpRequest) -> dict:
    which = request.GET.get("show", "all")
    if which not in FILTERS:
        which = "all"
    threads = _threads(user_id=request.user.pk, which=which)
    leads = _names(threads)
    last = conversations.conversation_last_texts(conversations=threads)
    rows = []
    for thread in threads:
        text = last.get(thread.pk)
        lead = leads.get(thread.lead_id) if thread.lead_id else None
        body = " ".join(text.body.split()) if text else ""
        rows.append(
            InboxRow(
                pk=thread.pk,
                who=lead.first_name if lead and lead.first_name else _masked(thread.phone),
                urgent=thread.is_urgent,
                unread=thread.unread_count,
                assignee=thread.assigned_to.get_username() if thread.assigned_to else "",
                last_from_person=bool(text and text.from_person),
                preview=body[:PREVIEW_CHARS] + ("…" if len(body) > PREVIEW_CHARS else ""),
                last_at=thread.last_message_at,
            )
        )
    # The names and last texts on screen: on the trail, once per window per user.
    intake_services.leads_access_record(leads=list(leads.values()), what="inbox")
    conversations.conversations_access_record(conversations=threads, what="inbox")
    return {
        "rows": rows,
        "show": which,
        "filters": FILTERS,
        "unread_threads": conversations.conversations_unread_count(),
    }


@require_GET
@roles.role_required(*CARE)
def console_inbox(request: HttpRequest) -> HttpResponse:
    context = _list_context(request)
    context["shortcuts"] = selectors.console_shortcuts_enabled(user_id=request.user.pk)
    return render(request, "scheduling/inbox.html", context)


@require_GET
@roles.role_required(*CARE)
def console_inbox_list(request: HttpRequest) -> HttpResponse:
    """The list alone, polled by the inbox every few seconds."""
    return render(request, "scheduling/_inbox_list.html", _list_context(request))


def _thread_or_404(conversation_id: int) -> SmsConversation:
    thread = conversations.conversation_get(conversation_id=conversation_id)
    if thread is None:
        raise Http404
    return thread


def _texts_context(thread: SmsConversation, *, polled: bool = False) -> dict:
    lead = intake_selectors.lead_get(lead_id=thread.lead_id) if thread.lead_id else None
    texts = conversations.conversation_texts(conversation=thread)
    # Opening the thread reads it: its number and every text. Watching it (the poll
    # every few seconds) is recorded once per window, so it does not bury the trail.
    if polled:
        conversations.conversations_access_record(conversations=[thread], what="inbox thread")
        if lead is not None:
            intake_services.leads_access_record(leads=[lead], what="inbox thread")
    else:
        conversations.conversation_access_record(conversation=thread, what="inbox thread")
        if lead is not None:
            intake_services.lead_access_record(lead=lead, what="inbox thread")
    if thread.unread_count:
        conversations.conversation_mark_read(conversation_id=thread.pk)
    zone = business_time.clinic_zone()
    return {
        "thread": thread,
        "lead": lead,
        "who": lead.first_name if lead and lead.first_name else _masked(thread.phone),
        "texts": texts,
        "zone": zone,
        "scheduled_status": Message.Status.SCHEDULED,
    }


def _thread_page(
    request: HttpRequest,
    thread: SmsConversation,
    *,
    error: str = "",
    typed: str = "",
    status: int = 200,
) -> HttpResponse:
    context = _texts_context(thread)
    context.update(
        {
            "error": error,
            "typed": typed,
            "mine": thread.assigned_to_id == request.user.pk,
            "shortcuts": selectors.console_shortcuts_enabled(user_id=request.user.pk),
            "callback": selectors.callback_live_for_lead(lead_id=thread.lead_id)
            if thread.lead_id
            else None,
        }
    )
    return render(request, "scheduling/inbox_thread.html", context, status=status)


@require_GET
@roles.role_required(*CARE)
def console_inbox_thread(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _thread_page(request, _thread_or_404(conversation_id))


@require_GET
@roles.role_required(*CARE)
def console_inbox_texts(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The thread's texts alone, polled while it is open."""
    context = _texts_context(_thread_or_404(conversation_id), polled=True)
    return render(request, "scheduling/_inbox_texts.html", context)


@require_POST
@roles.role_required(*CARE)
def console_inbox_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    thread = _thread_or_404(conversation_id)
    body = request.POST.get("body", "")
    try:
        message = inbox.conversation_reply(
            conversation_id=thread.pk, user_id=request.user.pk, body=body
        )
    except ApplicationError as error:
        reason = (error.fields or {}).get("body", [error.message])[0]
        if reason in ("Required.", "Too long.", "Names health information."):
            reason = error.message
        return _thread_page(request, thread, error=reason, typed=body, status=400)
    if message.status == Message.Status.SCHEDULED and message.send_after:
        local = timezone.localtime(message.send_after, business_time.clinic_zone())
        messages.success(
            request,
            f"Text scheduled for {local:%a %H:%M} clinic time: it is night where the "
            "person is and their last text is more than an hour old.",
        )
    elif message.status == Message.Status.SUPPRESSED:
        messages.error(request, "The text was not sent: the number cannot take texts.")
    else:
        messages.success(request, "Text sent.")
    return redirect("scheduling:console-inbox-thread", conversation_id=thread.pk)


@require_POST
@roles.role_required(*CARE)
def console_inbox_assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    thread = _thread_or_404(conversation_id)
    to_me = request.POST.get("assign") == "me"
    inbox.conversation_assign(conversation_id=thread.pk, user_id=request.user.pk if to_me else None)
    messages.success(
        request, "The conversation is yours." if to_me else "The conversation is unassigned."
    )
    return redirect("scheduling:console-inbox-thread", conversation_id=thread.pk)
