from __future__ import annotations

from django.contrib import admin

from notifications.models import Message, OptOut


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "purpose", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["channel", "purpose", "status"]
    search_fields = ["=provider_id", "=correlation"]
    readonly_fields = [field.name for field in Message._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "created_at"]
    search_fields = ["=phone"]
