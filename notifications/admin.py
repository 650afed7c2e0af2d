from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Max

from clinic.admin import ReadAuditedAdmin, ReadOnlyAdmin
from clinic.crypto import email_hash, phone_hash
from notifications.models import InboundMessage, Message, MessageTemplate, OptOut, Refusal
from notifications.services import message_access_record, opt_out_record
from notifications.wording import template_problems


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["name", "channel", "subject", "body", "body_html", "is_active"]

    def clean(self) -> dict:
        data = super().clean()
        problems = template_problems(
            name=data.get("name", ""),
            channel=data.get("channel", ""),
            subject=data.get("subject", ""),
            body=data.get("body", ""),
            body_html=data.get("body_html", ""),
        )
        for field, errors in problems.items():
            for error in errors:
                self.add_error(field, error)
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """Each save makes a new version; older versions stay for the record."""

    form = MessageTemplateForm
    list_display = ["name", "channel", "version", "is_active", "created_at"]
    list_filter = ["name", "channel", "is_active"]
    readonly_fields = ["version", "created_at"]

    def save_model(self, request, obj: MessageTemplate, form, change: bool) -> None:
        if change:
            obj.pk = None  # never edit a version in place
        latest = MessageTemplate.objects.filter(name=obj.name, channel=obj.channel).aggregate(
            latest=Max("version")
        )["latest"]
        obj.version = (latest or 0) + 1
        obj.save()


class MessageReadAuditedAdmin(ReadAuditedAdmin):
    """The page shows a recipient or sender and a body: the read goes on the audit trail."""

    def read_record(self, obj: Message | InboundMessage, *, what: str) -> None:
        message_access_record(message=obj, what=what)


@admin.register(Message)
class MessageAdmin(MessageReadAuditedAdmin):
    list_display = [
        "id",
        "channel",
        "purpose",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["channel", "purpose", "status"]
    search_fields = ["=provider_id", "=correlation"]
    readonly_fields = [field.name for field in Message._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(MessageReadAuditedAdmin):
    list_display = ["id", "kind", "received_at"]
    list_filter = ["kind"]
    readonly_fields = [field.name for field in InboundMessage._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ["id", "reason", "source", "created_at"]
    list_filter = ["reason"]
    # Found by the number's keyed hash: the plain number goes with the person's lead.
    search_fields = ["=phone_hash"]
    readonly_fields = ["phone_hash"]

    def get_search_results(self, request, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(phone_hash=phone_hash(term)), False

    def save_model(self, request, obj: OptOut, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new opt-out goes through the service: hashed, and pending texts suppressed.
        opt_out_record(phone=obj.phone, reason=obj.reason, source=obj.source or "admin")
        obj.pk = OptOut.objects.get(phone_hash=phone_hash(obj.phone)).pk


@admin.register(Refusal)
class RefusalAdmin(ReadOnlyAdmin):
    """Refusals are recorded and lifted on the console (who, when, why); here an admin
    only looks one up, by the phone or email typed in (hashed as the refusal is)."""

    list_display = [
        "id",
        "channel",
        "recorded_at",
        "recorded_by",
        "source",
        "lifted_at",
        "lifted_by",
        "lift_source",
    ]
    list_filter = ["channel", "lift_source"]
    search_fields = ["=value_hash"]
    # The hash identifies the person and the note is their words: neither is shown.
    exclude = ["value_hash", "lift_note"]

    def get_search_results(self, request, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(value_hash__in=[phone_hash(term), email_hash(term)]), False
