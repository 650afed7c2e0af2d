"""Reading and showing the audit trail (docs/audit.md): one lead's trail (the lead and
every record hanging off it), one staff user's, and the admin's pages for them. An
entry names what changed and who changed it, never a personal value (the events hold
none: :mod:`clinic.audit.events`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth import get_user_model
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from clinic.audit.events import INSERT, PERSONAL_CHANGED, UPDATE, event_models, tracks_changes


@dataclass(frozen=True)
class TrailEntry:
    """One event as the admin shows it: never a personal value."""

    id: int
    at: datetime
    label: str
    model: str
    object_id: Any
    context: dict[str, Any]
    changes: dict[str, Any] = field(default_factory=dict)
    personal_changed: tuple[str, ...] = ()

    @property
    def user_id(self) -> Any:
        return self.context.get("user")

    @property
    def source(self) -> str:
        """The route or task that made the event."""
        return str(self.context.get("task") or self.context.get("route") or "")


def _stored_fields(event_model: type[models.Model]) -> list[str]:
    tracked = {f.name for f in event_model.pgh_tracked_model._meta.concrete_fields}
    return [
        f.attname
        for f in event_model._meta.concrete_fields
        if f.name in tracked and not f.name.startswith("pgh_")
    ]


def _fk_fields_to(event_model: type[models.Model], target: type[models.Model]) -> list[str]:
    return [
        f.attname
        for f in event_model._meta.concrete_fields
        if f.is_relation and f.name != "pgh_obj" and f.related_model is target
    ]


def _entries(
    querysets: dict[type[models.Model], models.QuerySet],
    *,
    since: datetime | None,
    until: datetime | None,
    label: str | None,
    limit: int,
) -> list[TrailEntry]:
    """The newest ``limit`` events across the querysets, each update with what it changed."""
    entries: list[TrailEntry] = []
    for event_model, queryset in querysets.items():
        if since is not None:
            queryset = queryset.filter(pgh_created_at__gte=since)
        if until is not None:
            queryset = queryset.filter(pgh_created_at__lt=until)
        if label:
            queryset = queryset.filter(pgh_label=label)
        events = list(queryset.order_by("-pgh_created_at", "-pgh_id")[:limit])
        if not events:
            continue
        fields = _stored_fields(event_model)
        has_obj = any(f.name == "pgh_obj" for f in event_model._meta.concrete_fields)
        previous = _previous_snapshots(event_model, events, fields) if has_obj else {}
        for event in events:
            snapshot = {name: getattr(event, name) for name in fields}
            before = previous.get(event.pgh_id)
            if event.pgh_label == UPDATE and before is not None:
                changes = {
                    name: [before[name], value]
                    for name, value in snapshot.items()
                    if before[name] != value
                }
            else:
                changes = snapshot
            personal = getattr(event, PERSONAL_CHANGED, None) or ""
            entries.append(
                TrailEntry(
                    id=event.pgh_id,
                    at=event.pgh_created_at,
                    label=event.pgh_label,
                    # auth.User, not the proxy that carries its triggers.
                    model=event_model.pgh_tracked_model._meta.concrete_model._meta.label,
                    object_id=event.pgh_obj_id if has_obj else None,
                    context=event.pgh_context or {},
                    changes=changes,
                    personal_changed=tuple(name for name in personal.split(",") if name),
                )
            )
    entries.sort(key=lambda entry: (entry.at, entry.id), reverse=True)
    return entries[:limit]


def _previous_snapshots(
    event_model: type[models.Model], events: list[models.Model], fields: list[str]
) -> dict[int, dict[str, Any]]:
    """For each update event, the stored columns of the same object's event before it."""
    updates = [event for event in events if event.pgh_label == UPDATE]
    if not updates:
        return {}
    history = (
        event_model.objects.filter(
            pgh_obj_id__in={event.pgh_obj_id for event in updates},
            pgh_id__lt=max(event.pgh_id for event in updates),
            pgh_label__in=[INSERT, UPDATE],
        )
        .order_by("pgh_obj_id", "pgh_id")
        .values("pgh_id", "pgh_obj_id", *fields)
    )
    by_object: dict[Any, list[dict[str, Any]]] = {}
    for row in history:
        by_object.setdefault(row["pgh_obj_id"], []).append(row)
    previous: dict[int, dict[str, Any]] = {}
    for event in updates:
        earlier = [
            row for row in by_object.get(event.pgh_obj_id, []) if row["pgh_id"] < event.pgh_id
        ]
        if earlier:
            previous[event.pgh_id] = earlier[-1]
    return previous


def trail_for_lead(
    lead_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    label: str | None = None,
    limit: int | None = None,
) -> list[TrailEntry]:
    """Every event of a lead and of the records hanging off it: its submissions,
    consents, callbacks and their attempts and alerts, appointments, reads, and the
    messages about it (``correlation="lead:<id>"``). Found through the event tables
    themselves, so records deleted since are still on the trail."""
    lead_model = apps.get_model("intake", "Lead")
    models_ = event_models()
    filters: dict[type[models.Model], models.Q] = {}

    def add(event_model: type[models.Model], condition: models.Q) -> None:
        filters[event_model] = filters.get(event_model, models.Q(pk__in=[])) | condition

    children: dict[type[models.Model], set[Any]] = {}
    for event_model in models_:
        if event_model.pgh_tracked_model is lead_model:
            add(event_model, models.Q(pgh_obj_id=lead_id))
        for attname in _fk_fields_to(event_model, lead_model):
            add(event_model, models.Q(**{attname: lead_id}))
            ids = set(
                event_model.objects.filter(**{attname: lead_id}).values_list(
                    "pgh_obj_id", flat=True
                )
            )
            children.setdefault(event_model.pgh_tracked_model, set()).update(ids)
        if any(f.name == "correlation" for f in event_model._meta.concrete_fields):
            add(event_model, models.Q(correlation=f"lead:{lead_id}"))
    for event_model in models_:
        for child_model, ids in children.items():
            if ids and child_model is not lead_model:
                for attname in _fk_fields_to(event_model, child_model):
                    add(event_model, models.Q(**{f"{attname}__in": ids}))
    return _entries(
        {m: m.objects.filter(condition) for m, condition in filters.items()},
        since=since,
        until=until,
        label=label,
        limit=limit or settings.AUDIT_TRAIL_PAGE_SIZE,
    )


def trail_for_user(
    user_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    label: str | None = None,
    limit: int | None = None,
) -> list[TrailEntry]:
    """Every event a staff user caused (their requests' context names them), newest first."""
    return _entries(
        {m: m.objects.filter(pgh_context__user=user_id) for m in event_models()},
        since=since,
        until=until,
        label=label,
        limit=limit or settings.AUDIT_TRAIL_PAGE_SIZE,
    )


def event_labels() -> list[str]:
    """Every action the trail can hold (insert, update, delete, lead.read, ...)."""
    return sorted({tracker.label for m in event_models() for tracker in (m.pgh_trackers or ())})


# --- The admin's pages ----------------------------------------------------------------


class AuditTrailFilterForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Inclusive.",
    )
    action = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any"), *((a, a) for a in event_labels())]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def trail_filters(self) -> dict[str, Any]:
        """Keyword arguments for :func:`trail_for_lead` and :func:`trail_for_user`
        (clinic days, aware)."""
        data = self.cleaned_data
        zone = timezone.get_current_timezone()

        def start_of(day: Any) -> datetime | None:
            return datetime.combine(day, time.min, tzinfo=zone) if day else None

        until = start_of(data.get("until"))
        return {
            "since": start_of(data.get("since")),
            "until": until + timedelta(days=1) if until else None,
            "label": data.get("action") or None,
        }


class AuditUserForm(forms.Form):
    username = forms.CharField(max_length=150)

    def clean_username(self) -> Any:
        user = get_user_model().objects.filter(username=self.cleaned_data["username"]).first()
        if user is None:
            raise forms.ValidationError("No user has this username.")
        return user


class AuditTrailAdminSite(AdminSite):
    """An admin site with the audit trail's pages, read-only: a user picker, one lead's
    trail and one staff user's, each filtered by dates and action."""

    def get_urls(self) -> list[URLPattern]:
        return [
            path("audit/", self.admin_view(self.audit_index), name="audit-index"),
            path(
                "audit/lead/<int:lead_id>/",
                self.admin_view(self.audit_lead),
                name="audit-lead",
            ),
            path(
                "audit/user/<int:user_id>/",
                self.admin_view(self.audit_user),
                name="audit-user",
            ),
            *super().get_urls(),
        ]

    def audit_index(self, request: HttpRequest) -> HttpResponse:
        form = AuditUserForm(request.GET or None)
        if form.is_valid():
            return redirect("admin:audit-user", user_id=form.cleaned_data["username"].pk)
        context = {**self.each_context(request), "title": "Audit trail", "form": form}
        return TemplateResponse(request, "admin/audit_index.html", context)

    def audit_lead(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        return self._trail_page(
            request,
            title=f"Audit trail of lead {lead_id}",
            subtitle="Every change and read of this lead, its submissions, consents, "
            "callbacks, attempts, appointments and messages.",
            trail=lambda **filters: trail_for_lead(lead_id, **filters),
        )

    def audit_user(self, request: HttpRequest, user_id: int) -> HttpResponse:
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None:
            raise Http404
        return self._trail_page(
            request,
            title=f"Audit trail of {user.get_username()}",
            subtitle="Every change and read this user made.",
            trail=lambda **filters: trail_for_user(user_id, **filters),
        )

    def _trail_page(
        self,
        request: HttpRequest,
        *,
        title: str,
        subtitle: str,
        trail: Callable[..., list[TrailEntry]],
    ) -> HttpResponse:
        form = AuditTrailFilterForm(request.GET)
        entries = trail(**form.trail_filters()) if form.is_valid() else []
        users = get_user_model().objects.in_bulk(
            {entry.user_id for entry in entries if isinstance(entry.user_id, int)}
        )
        context = {
            **self.each_context(request),
            "title": title,
            "subtitle": subtitle,
            "form": form,
            "rows": [
                {
                    "entry": entry,
                    "username": users[entry.user_id].get_username()
                    if entry.user_id in users
                    else None,
                    "roles": ", ".join(entry.context.get("roles") or ()),
                }
                for entry in entries
            ],
            "limit": settings.AUDIT_TRAIL_PAGE_SIZE,
            "tracks_changes": tracks_changes(),
        }
        return TemplateResponse(request, "admin/audit_trail.html", context)
