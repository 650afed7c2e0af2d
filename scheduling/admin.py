from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from scheduling.models import (
    Appointment,
    Availability,
    AvailabilityException,
    CallAttempt,
    Callback,
    Clinician,
    CrisisDecision,
    StaffAlert,
)
from scheduling.services import waitlist


class CallAttemptInline(admin.TabularInline):
    model = CallAttempt
    extra = 0
    can_delete = False
    fields = ["created_at", "coordinator", "outcome", "call_back_at"]
    readonly_fields = fields


class CrisisDecisionInline(admin.TabularInline):
    """A supervisor's decisions on a crisis nobody reached (the reason, which may name
    the person, is on the callback page's timeline, not here)."""

    model = CrisisDecision
    extra = 0
    can_delete = False
    fields = ["created_at", "decided_by", "action", "retry_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Callback)
class CallbackAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "result", "is_urgent", "due_at", "claimed_by", "created_at"]
    list_filter = ["status", "result", "is_urgent", "patient_replied"]
    raw_id_fields = ["lead", "submission", "claimed_by"]
    readonly_fields = ["created_at", "original_due_at"]
    inlines = [CallAttemptInline, CrisisDecisionInline]


@admin.register(StaffAlert)
class StaffAlertAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "audience",
        "callback",
        "created_at",
        "acknowledged_at",
        "resolved_at",
    ]
    list_filter = ["kind", "audience"]
    raw_id_fields = ["callback", "recipient", "acknowledged_by"]


class AvailabilityInline(admin.TabularInline):
    model = Availability
    extra = 0


class AvailabilityExceptionInline(admin.TabularInline):
    model = AvailabilityException
    extra = 0


@admin.register(Clinician)
class ClinicianAdmin(admin.ModelAdmin):
    list_display = ["name", "slot_minutes", "is_active"]
    list_filter = ["is_active"]
    inlines = [AvailabilityInline, AvailabilityExceptionInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """New or changed hours may open times: the waitlist is offered them."""
        super().save_related(request, form, formsets, change)
        waitlist.waitlist_offers_kick()


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ["id", "starts_at", "clinician", "status", "created_at"]
    list_filter = ["status", "clinician"]
    raw_id_fields = ["lead", "booked_by"]
    date_hierarchy = "starts_at"
