from __future__ import annotations

from django.contrib import admin

from scheduling.models import Callback, ClinicClosure, OpeningHours


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ["weekday", "opens_at", "closes_at"]
    list_filter = ["weekday"]


@admin.register(ClinicClosure)
class ClinicClosureAdmin(admin.ModelAdmin):
    list_display = ["day", "reason"]
    date_hierarchy = "day"


@admin.register(Callback)
class CallbackAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "is_urgent", "due_at", "claimed_by", "created_at"]
    list_filter = ["status", "is_urgent"]
    raw_id_fields = ["lead", "submission", "claimed_by"]
    readonly_fields = ["created_at", "original_due_at"]
