"""Clinic time in the admin: opening hours and closures (edits take effect at once)."""

from __future__ import annotations

from django.contrib import admin

from clinic import business_time
from clinic.models import ClinicClosure, OpeningHours


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
