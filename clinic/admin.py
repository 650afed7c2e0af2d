"""The ground app in the admin: clinic time (opening hours and closures, edits take
effect at once), the base of every admin whose change page shows personal data, and
the base of the records that are only ever read there."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from clinic import business_time
from clinic.models import ClinicClosure, OpeningHours


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by the application (ledgers, logs, counts): the admin shows
    them and never adds, edits or deletes one. Put it first among the bases."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadAuditedAdmin(admin.ModelAdmin):
    """Opening a change page (a GET) shows personal data: each admin that subclasses
    this one records that read on the audit trail in ``read_record``, through its own
    app's service (a lead's read, a message's read)."""

    read_record: Any  # (obj, *, what) -> None: each app records the read its own way

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # An admin that shows personal data and records no read is refused at import,
        # not found out on the first page opened.
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "read_record", None)):
            raise TypeError(f"{cls.__name__} must define read_record(obj, *, what)")

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and request.method == "GET":
            self.read_record(obj, what=f"admin {obj._meta.model_name} page")
        return obj


class ClinicTimeAdmin(admin.ModelAdmin):
    """Edits to clinic time take effect in this process at once, elsewhere within
    business_time.CACHE_SECONDS."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        business_time.forget()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        business_time.forget()


@admin.register(OpeningHours)
class OpeningHoursAdmin(ClinicTimeAdmin):
    list_display = ["weekday", "opens_at", "closes_at"]
    list_filter = ["weekday"]


@admin.register(ClinicClosure)
class ClinicClosureAdmin(ClinicTimeAdmin):
    list_display = ["day", "reason"]
    date_hierarchy = "day"
