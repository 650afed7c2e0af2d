"""What the audit trail records (docs/audit.md), and in whose name.

- Changes: PostgreSQL row triggers (django-pghistory on django-pgtrigger) on every
  model decorated with :func:`audited`, so ``QuerySet.update()``, raw SQL and the admin
  are caught too. Every column is stored except the personal ones; for those only
  *which* changed is stored, never a value, because the trail outlives erasure.
- Reads: manual events of the same event models, written by :func:`event_record`
  (called by ``intake.services.lead_access_record`` and friends), so one lead's trail
  reads as one timeline.
- Who and from where: :func:`audit_context`, set by the web request
  (:class:`AuditContextMiddleware`) or the Celery task (config.celery). On PostgreSQL
  it is pghistory's context, which the triggers copy into each event row.
- The application's database role may only read and append to the trail
  (:func:`app_role_grants`).
"""

from __future__ import annotations

import contextvars
import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pghistory
import pghistory.trigger
import pgtrigger
from django.core.exceptions import EmptyResultSet
from django.db import InterfaceError, OperationalError, connection, connections, models, router
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from clinic import roles
from clinic.proxies import client_address

# pghistory's labels for trigger events; read events are named "<entity>.read".
INSERT = "insert"
UPDATE = "update"
DELETE = "delete"
# Longest user agent kept: enough to tell a browser from a script.
USER_AGENT_MAX = 200
# The event column naming the personal columns an update changed (comma-separated).
PERSONAL_CHANGED = "personal_changed"


# --- Tracking -----------------------------------------------------------------------


class _NamedIn:
    """A trigger named as it was in the app its model was first made in (``named_in``;
    see :func:`audited`'s ``moved_from``). pgtrigger names a trigger and its function
    in the database after the model's app label (``pgtrigger_<name>_<hash of
    "app.Model:name">``): a model that moved between apps keeps those names so."""

    named_in: str | None = None

    def get_pgid(self, model: type[models.Model]) -> str:
        if self.named_in is None:
            return super().get_pgid(model)  # type: ignore[misc]
        name = self.name  # type: ignore[attr-defined]
        uri = f"{self.named_in}.{model._meta.object_name}:{name}"
        # pgtrigger.Trigger.get_pgid's formula, on the first app's label.
        model_hash = hashlib.sha1(uri.encode(), usedforsecurity=False).hexdigest()[:5]
        return f"pgtrigger_{name}_{model_hash}".lower()


class _EventTrigger(_NamedIn, pghistory.trigger.Event):
    """pghistory's event trigger, also naming the personal columns that changed.

    The event row has no column for a personal field, so its value never reaches the
    trail; ``personal_changed`` lists the names of those that differ between OLD and
    NEW (``first_name,phone``), so a change of name or number is still on record."""

    def __init__(
        self, *, personal: Sequence[str], named_in: str | None = None, **kwargs: Any
    ) -> None:
        self.personal = tuple(personal)
        self.named_in = named_in
        super().__init__(**kwargs)

    def get_func(self, model: type[models.Model]) -> pgtrigger.Func:
        func = super().get_func(model)
        columns = [model._meta.get_field(name).column for name in self.personal]
        if not columns:
            return func
        names = ", ".join(
            f'CASE WHEN OLD."{column}" IS DISTINCT FROM NEW."{column}" THEN \'{column}\' END'
            for column in columns
        )
        table = self.event_model._meta.db_table
        sql = func.func.replace(
            f'INSERT INTO "{table}" (', f'INSERT INTO "{table}" ("{PERSONAL_CHANGED}", ', 1
        ).replace("VALUES (", f"VALUES (CONCAT_WS(',', {names}), ", 1)
        return pgtrigger.Func(sql)


class _AppendOnly(_NamedIn, pgtrigger.Protect):
    """pghistory's append-only protection of an event table (``PGHISTORY_APPEND_ONLY``),
    for an event model whose trigger keeps its first app's name."""

    def __init__(self, *, named_in: str) -> None:
        self.named_in = named_in
        super().__init__(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)


class _RowEvent:
    """Registers a row tracker's trigger as an :class:`_EventTrigger` (pghistory's own,
    plus the personal columns an update changed and the name of a moved model's)."""

    personal: tuple[str, ...] = ()
    named_in: str | None = None

    def add_event_trigger(self, event_model: type[models.Model]) -> None:
        pgtrigger.register(
            _EventTrigger(
                personal=self.personal,
                named_in=self.named_in,
                event_model=event_model,
                label=self.label,  # type: ignore[attr-defined]
                name=self.trigger_name,  # type: ignore[attr-defined]
                row=self.row,  # type: ignore[attr-defined]
                operation=self.operation,  # type: ignore[attr-defined]
                condition=self.condition,  # type: ignore[attr-defined]
                level=self.level,  # type: ignore[attr-defined]
            )
        )(event_model.pgh_tracked_model)


class _InsertEvent(_RowEvent, pghistory.InsertEvent):
    pass


class _DeleteEvent(_RowEvent, pghistory.DeleteEvent):
    pass


class _UpdateEvent(_RowEvent, pghistory.UpdateEvent):
    """An update of any column, personal ones included (see ``_EventTrigger``)."""

    def __init__(self, *, personal: Sequence[str]) -> None:
        # Any column, not just the stored ones: a change of name alone is an event too.
        super().__init__(UPDATE, condition=pgtrigger.Condition("OLD.* IS DISTINCT FROM NEW.*"))
        self.personal = tuple(personal)


def audited(
    *,
    personal: Sequence[str] = (),
    skip: Sequence[str] = (),
    reads: Sequence[str] = (),
    app_label: str | None = None,
    model_name: str | None = None,
    moved_from: str | None = None,
) -> Callable[[type[models.Model]], type[models.Model]]:
    """Class decorator: record every insert, update and delete of the model.

    ``personal`` columns (names, phones, emails, free text, addresses) are never stored,
    only named when an update changes them; ``skip`` columns are neither stored nor
    watched (bookkeeping such as ``last_login``). ``reads`` are labels of manual events
    (``"lead.read"``) written by :func:`event_record`. The event model is
    ``<Model>Event`` in the model's own app (or ``app_label``).

    ``moved_from`` names the app a model was first made in, when it has moved to
    another since (its ``Meta.db_table`` keeps the first app's table): its event model
    keeps its table too, and the triggers on both keep their names, so the move
    changes nothing in the database and the trail goes on in the same table."""

    def decorate(model: type[models.Model]) -> type[models.Model]:
        row_events: list[_RowEvent] = [
            _InsertEvent(INSERT),
            _UpdateEvent(personal=personal),
            _DeleteEvent(DELETE),
        ]
        for tracker in row_events:
            tracker.named_in = moved_from
        trackers: list[pghistory.Tracker] = [
            *row_events,  # type: ignore[list-item]
            *(pghistory.ManualEvent(label) for label in reads),
        ]
        if skip:
            condition_fields = [
                f.name for f in model._meta.concrete_fields if f.name not in set(skip)
            ]
            trackers[1].condition = pgtrigger.AnyChange(*condition_fields)
        event_model_name = model_name or f"{model.__name__}Event"
        moved: dict[str, Any] = {}
        if moved_from is not None:
            append_only = pghistory.config.append_only()
            moved = {
                "append_only": False,  # pghistory's would take the new app's name
                "meta": {
                    "db_table": f"{moved_from}_{event_model_name.lower()}",
                    "triggers": [_AppendOnly(named_in=moved_from)] if append_only else [],
                },
            }
        return pghistory.track(
            *trackers,
            exclude=[*personal, *skip],
            app_label=app_label,
            model_name=event_model_name,
            attrs={
                PERSONAL_CHANGED: models.CharField(
                    max_length=500,
                    null=True,
                    blank=True,
                    help_text="Personal columns this update changed (names only).",
                )
            },
            **moved,
        )(model)

    return decorate


def tracks_changes() -> bool:
    """True where the change triggers exist (PostgreSQL)."""
    return connection.vendor == "postgresql"


# --- Context: who, role, from where ---------------------------------------------------


@dataclass
class _State:
    id: uuid.UUID
    metadata: dict[str, Any]


_state: contextvars.ContextVar[_State | None] = contextvars.ContextVar(
    "audit_context", default=None
)


def current_context() -> dict[str, Any]:
    """The metadata every event recorded now carries (a copy)."""
    state = _state.get()
    return dict(state.metadata) if state else {}


@contextmanager
def audit_context(**metadata: Any) -> Iterator[dict[str, Any]]:
    """Everything recorded inside carries ``metadata``; a nested context adds to the
    outer one until it ends (an eager task inside a request), then puts it back.

    On PostgreSQL this is ``pghistory.context``, whose metadata dict is the one shared
    here, so the triggers see every later addition (``audit_context_update``)."""
    state = _state.get()
    if state is not None:
        saved = dict(state.metadata)
        state.metadata.update(metadata)
        try:
            yield state.metadata
        finally:
            state.metadata.clear()
            state.metadata.update(saved)
        return
    if tracks_changes():
        try:
            with pghistory.context(**metadata) as tracked:
                token = _state.set(_State(id=tracked.id, metadata=tracked.metadata))
                try:
                    yield tracked.metadata
                finally:
                    _state.reset(token)
        finally:
            _forget_database_context()
    else:
        token = _state.set(_State(id=uuid.uuid4(), metadata=dict(metadata)))
        try:
            yield _state.get().metadata  # type: ignore[union-attr]
        finally:
            _state.reset(token)


def _forget_database_context() -> None:
    """pghistory sets the context as transaction-local settings before each statement:
    a transaction that goes on after the context ended (a test, a caller's atomic
    block around a task) must not lend it to the statements that follow."""
    if connection.in_atomic_block and not connection.needs_rollback:
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('pghistory.context_id', '', true), "
                    "set_config('pghistory.context_metadata', '', true)"
                )
        except (OperationalError, InterfaceError):
            # The database went away: its transaction, and the settings with it, are
            # gone. Raising here would turn the caller's 503 into a 500.
            pass


def audit_context_update(**metadata: Any) -> None:
    """Add to the current context (no-op outside one)."""
    state = _state.get()
    if state is not None:
        state.metadata.update(metadata)


def request_context(request: HttpRequest) -> dict[str, Any]:
    """The request's id, method and, for staff, who is asking and from where."""
    return {
        "request_id": getattr(request, "request_id", None),
        "method": request.method,
        **_user_context(request, getattr(request, "user", None)),
    }


def _user_context(request: HttpRequest, user: Any) -> dict[str, Any]:
    """Who and from where. Staff only: an anonymous visitor (a person filling in the
    form) is a patient, and their address must not outlive their erasure."""
    if user is None or not user.is_authenticated:
        return {}
    return {
        "user": user.pk,
        "roles": sorted(roles.user_roles(user)),
        "ip": client_address(request),
        "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
    }


class _UserWatchingRequest:
    """DRF authenticates in the view and then sets ``request.user`` on the Django
    request: the context follows (as pghistory's own middleware does)."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "user":
            audit_context_update(**_user_context(self, value))  # type: ignore[arg-type]


_watching_classes: dict[type, type] = {}


def _watch_user(request: HttpRequest) -> None:
    cls = type(request)
    if cls not in _watching_classes:
        _watching_classes[cls] = type(
            f"UserWatching{cls.__name__}", (_UserWatchingRequest, cls), {}
        )
    request.__class__ = _watching_classes[cls]


class AuditContextMiddleware:
    """Every change and read made while answering a request carries who made it (user
    id and roles), from where (address, user agent), the request id, the method and the
    route (a pattern: paths hold signed tokens). After ``AuthenticationMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_context(**request_context(request)):
            _watch_user(request)
            return self.get_response(request)

    def process_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        match = request.resolver_match
        if match is not None:
            audit_context_update(route=match.route, view=match.view_name)


# --- Reads ----------------------------------------------------------------------------


def event_record(obj: models.Model, *, label: str, **detail: Any) -> models.Model | None:
    """Record a manual event (``"lead.read"``) of ``obj`` with the current context and
    ``detail`` (what was read), on every database. Returns the event row (None when
    ``obj`` was loaded without some stored column: see :func:`events_record`)."""
    events = events_record([obj], label=label, **detail)
    return events[0] if events else None


def _event_stored_fields(model: type[models.Model], event_model: type[models.Model]) -> list[str]:
    """The tracked model's columns an event row keeps a copy of (never a personal one)."""
    tracked = {f.attname for f in model._meta.concrete_fields}
    return [
        f.attname
        for f in event_model._meta.concrete_fields
        if not f.name.startswith("pgh_") and f.attname in tracked
    ]


def events_record(objs: Sequence[models.Model], *, label: str, **detail: Any) -> list[Any]:
    """:func:`event_record` for several objects of one model, in one INSERT, from the
    values on the objects. An object loaded with ``only()``/``defer()`` without some
    stored column would cost a query per object to fill it in: then the database
    copies the columns instead (:func:`events_record_for`, still one INSERT) and the
    answer is ``[]``."""
    if not objs:
        return []
    model = type(objs[0])
    event_model = _event_model_for(model, label)
    stored = _event_stored_fields(model, event_model)
    if any(set(stored) & obj.get_deferred_fields() for obj in objs):
        events_record_for(
            model._base_manager.filter(pk__in=[obj.pk for obj in objs]), label=label, **detail
        )
        return []
    state = _state.get()
    context = {**(state.metadata if state else {}), **detail}
    return event_model.objects.bulk_create(
        [
            event_model(
                pgh_label=label,
                pgh_obj=obj,
                pgh_context=context,
                pgh_context_id=state.id if state else None,
                **{name: getattr(obj, name) for name in stored},
            )
            for obj in objs
        ]
    )


def events_record_for(queryset: models.QuerySet, *, label: str, **detail: Any) -> int:
    """Record a manual event of every object ``queryset`` finds, with the current context
    and ``detail``, in one ``INSERT ... SELECT``: the database copies the stored columns,
    so nothing is loaded and no object is needed, only ids (``pk__in=...``) or a join
    (``callbacks=...``). On the primary database. Returns how many events were written."""
    model = queryset.model
    event_model = _event_model_for(model, label)
    stored = _event_stored_fields(model, event_model)
    state = _state.get()
    meta = event_model._meta
    constants = {
        "audit_obj": ("pgh_obj", models.F("pk")),
        "audit_at": (
            "pgh_created_at",
            models.Value(timezone.now(), meta.get_field("pgh_created_at")),
        ),
        "audit_label": ("pgh_label", models.Value(label, meta.get_field("pgh_label"))),
        "audit_context": (
            "pgh_context",
            models.Value(
                {**(state.metadata if state else {}), **detail}, meta.get_field("pgh_context")
            ),
        ),
        "audit_context_id": (
            "pgh_context_id",
            models.Value(state.id if state else None, meta.get_field("pgh_context_id")),
        ),
    }
    database = router.db_for_write(event_model)
    select = (
        queryset.using(database)
        .order_by()
        .annotate(**{alias: value for alias, (_name, value) in constants.items()})
        .values_list(*stored, *constants)
    )
    try:
        sql, params = select.query.sql_with_params()
    except EmptyResultSet:  # pk__in=[]: nothing to record, no statement
        return 0
    columns = [meta.get_field(name).column for name in stored]
    columns += [meta.get_field(name).column for name, _value in constants.values()]
    quote = connections[database].ops.quote_name
    with connections[database].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, columns))}) {sql}", params
        )
        return cursor.rowcount


def _event_model_for(model: type[models.Model], label: str) -> type[models.Model]:
    for event_model in pghistory.core.event_models(tracks_model=model):
        if any(tracker.label == label for tracker in event_model.pgh_trackers or ()):
            return event_model
    raise ValueError(f"{model._meta.label} has no {label!r} event")


def event_models() -> list[type[models.Model]]:
    """Every audit event model (one per audited model), by label."""
    return sorted(pghistory.core.event_models(), key=lambda m: m._meta.label)


# --- The application's database role ---------------------------------------------------


def app_role_grants(role: str) -> list[str]:
    """SQL, run by the owner role after every ``migrate``, giving the application's
    role what it needs on the clinic's tables but only SELECT and INSERT on the audit
    tables, so it can neither rewrite nor erase the trail (docs/audit.md). Idempotent."""
    quote = connection.ops.quote_name
    audit_tables = sorted({m._meta.db_table for m in event_models()} | {"pghistory_context"})
    return [
        f"GRANT USAGE ON SCHEMA public TO {quote(role)}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quote(role)}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quote(role)}",
        *(
            f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {quote(table)} "
            f"FROM {quote(role)}"
            for table in audit_tables
        ),
    ]
