from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from clinic import roles
from clinic.admin import ReadAuditedAdmin, ReadOnlyAdmin
from clinic.crypto import email_hash, phone_hash
from intake.models import (
    Article,
    ArticleDailyCount,
    Consent,
    InsuranceRecord,
    InsuranceVerification,
    Lead,
    Screening,
    Submission,
    WebhookDelivery,
)
from intake.services import (
    insurance_access_record,
    lead_access_record,
    lead_erase,
    screenings_access_record,
    webhook_redeliver,
)


class HashSearchMixin:
    """Search by phone or email through their keyed hashes (the plain columns are not
    indexed, and go when a lead is anonymised)."""

    hash_search_fields: tuple[str, ...] = ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        hashes = {"phone_hash": phone_hash(term), "email_hash": email_hash(term)}
        match = queryset.none()
        for field in self.hash_search_fields:
            match = match | queryset.filter(**{field: hashes[field]})
        return match, False


class LeadReadAuditedAdmin(ReadAuditedAdmin):
    """Opening a change page shows a lead's personal data: that read goes on the
    audit trail (``lead_of`` names the lead of the page's object)."""

    def lead_of(self, obj) -> Lead:
        return obj.lead

    def read_record(self, obj, *, what: str) -> None:
        lead_access_record(
            lead=self.lead_of(obj), what=what, record=f"{obj._meta.label_lower}:{obj.pk}"
        )


class EraseForm(forms.Form):
    reason = forms.CharField(
        max_length=180,
        help_text="A ticket number or 'request by email': never the person's details.",
    )


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "slug",
        "topic",
        "tracking_number",
        "is_listed",
        "needs_review",
        "published_at",
    ]
    list_filter = ["is_listed", "needs_review", "topic"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}


# What a request shows at a glance, in the lead's list of requests and in the admin's.
SUBMISSION_COLUMNS = [
    "reference",
    "article",
    "utm_source",
    "utm_campaign",
    "in_crisis",
    "crisis_language",
    "is_spam",
    "created_at",
]


class SubmissionInline(admin.TabularInline):
    model = Submission
    extra = 0
    can_delete = False
    fields = SUBMISSION_COLUMNS
    readonly_fields = fields
    show_change_link = True


@admin.register(Lead)
class LeadAdmin(HashSearchMixin, LeadReadAuditedAdmin):
    list_display = ["id", "first_name", "stage", "preferred_channel", "needs_review", "created_at"]
    list_filter = [
        "stage",
        "needs_review",
        "preferred_channel",
        "voicemail_ok",
        "mention_clinic_ok",
    ]
    # Shown as the search box; the search itself goes through the hashes (HashSearchMixin).
    search_fields = ["=phone", "=email"]
    hash_search_fields = ("phone_hash", "email_hash")
    actions = ["erase"]
    readonly_fields = [
        "anonymised_at",
        "anonymised_reason",
        "created_at",
        "contacting_at",
        "contacted_at",
        "consult_booked_at",
        "consult_attended_at",
        "admitted_at",
        "screened_at",
        "insurance_verified_at",
        "waitlisted_at",
        "closed_at",
        "phone_type",
        # Proven only by the person or a coordinator who spoke with them (the console).
        "phone_verified_at",
        "phone_verified_by",
        "email_verified_at",
        "email_verified_by",
        "name_confirmed_at",
        "audit_trail",
    ]
    inlines = [SubmissionInline]

    def lead_of(self, obj: Lead) -> Lead:
        return obj

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        # A detail typed in here is a new one: nobody has proven it is the person's yet.
        changed = set(form.changed_data)
        if "phone" in changed:
            obj.phone_verified_at, obj.phone_verified_by = None, ""
        if "email" in changed:
            obj.email_verified_at, obj.email_verified_by = None, ""
        if "first_name" in changed:
            obj.name_confirmed_at = None
        super().save_model(request, obj, form, change)

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: Lead) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Every change and read of this lead and its records</a>',
            reverse("admin:audit-lead", args=[obj.pk]),
        )

    @admin.action(description="Erase personal data (on the person's request)")
    def erase(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse | None:
        """Asks for a reason on a confirmation page, then erases each selected lead
        (``intake.services.lead_erase``). Admin role only."""
        if not roles.has_role(request.user, roles.ADMIN):
            raise PermissionDenied
        form = EraseForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            erased = sum(
                lead_erase(lead=lead, actor=request.user, reason=form.cleaned_data["reason"])
                for lead in queryset
            )
            self.message_user(request, f"{erased} lead(s) erased.", messages.SUCCESS)
            return None
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Erase personal data",
            "opts": self.model._meta,
            "leads": queryset,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/intake/lead/erase_confirmation.html", context)


@admin.register(Submission)
class SubmissionAdmin(LeadReadAuditedAdmin):
    list_display = SUBMISSION_COLUMNS
    list_filter = ["is_spam", "in_crisis", "crisis_language", "article"]
    search_fields = ["=reference"]
    raw_id_fields = ["lead"]
    readonly_fields = [
        "reference",
        "created_at",
        "processed_at",
        "callback_window",
        "first_touch",
        "crisis_language",
        # What the person typed: evidence of the request, never edited.
        "insurance_payer",
        "insurance_member_id",
    ]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin, LeadReadAuditedAdmin):
    """The consent ledger is append-only: readable, never edited."""

    list_display = ["submission", "scope", "granted", "text_version", "created_at"]
    list_filter = ["scope", "granted", "text_version"]


@admin.register(ArticleDailyCount)
class ArticleDailyCountAdmin(admin.ModelAdmin):
    """Anonymous counts, written only by the flush task."""

    list_display = ["article", "day", "type", "count"]
    list_filter = ["type", "day"]
    date_hierarchy = "day"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Screening)
class ScreeningAdmin(ReadOnlyAdmin, ReadAuditedAdmin):
    """Screenings, read only: they are recorded during the call (where a PHQ-9
    self-harm answer opens the crisis protocol), never typed in here. The list shows
    no clinical value; opening one (answers, score, band) is a screening read on the
    audit trail."""

    list_display = ["__str__", "instrument", "opens_crisis", "created_by", "created_at"]
    list_filter = ["instrument", "opens_crisis"]
    raw_id_fields = ["lead"]
    date_hierarchy = "created_at"

    def read_record(self, obj, *, what: str) -> None:
        screenings_access_record(screenings=[obj], what=what)


class InsuranceVerificationInline(admin.TabularInline):
    """Who set each verification status, and when."""

    model = InsuranceVerification
    extra = 0
    can_delete = False
    fields = ["status", "previous_status", "changed_by", "changed_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InsuranceRecord)
class InsuranceRecordAdmin(ReadOnlyAdmin, ReadAuditedAdmin):
    """Insurance records, read only: coordinators record them on the callback page or
    the API, where the verification status moves through one service. The list shows
    no payer or identifier; opening one (member ID, group number) is an insurance read
    on the audit trail."""

    list_display = [
        "__str__",
        "verification_status",
        "verification_changed_by",
        "verification_changed_at",
        "updated_at",
    ]
    list_filter = ["verification_status"]
    raw_id_fields = ["lead"]
    date_hierarchy = "verification_changed_at"
    inlines = [InsuranceVerificationInline]

    def read_record(self, obj, *, what: str) -> None:
        insurance_access_record(records=[obj], what=what)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log of outbound webhooks, read only (the admin role's, like the whole
    admin): ids, stages and how each try went; no personal data is stored in it. A
    failed delivery may be sent again, with the same event id."""

    list_display = [
        "event_id",
        "stage",
        "lead_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["status", "stage", "event_type", "endpoint"]
    search_fields = ["=event_id", "=lead_id"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    actions = ["send_again"]

    @admin.action(description="Send the failed deliveries again (same event id)")
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        sent = sum(
            webhook_redeliver(delivery_id=pk) for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{sent} failed deliveries queued again.", messages.SUCCESS)
