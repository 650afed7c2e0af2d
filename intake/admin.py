from __future__ import annotations

from django.contrib import admin

from intake.models import Article, ArticleDailyCount, Consent, Lead, Submission


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


class SubmissionInline(admin.TabularInline):
    model = Submission
    extra = 0
    can_delete = False
    fields = [
        "reference",
        "article",
        "utm_source",
        "utm_campaign",
        "in_crisis",
        "crisis_language",
        "is_spam",
        "created_at",
    ]
    readonly_fields = fields
    show_change_link = True


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["id", "first_name", "stage", "preferred_channel", "needs_review", "created_at"]
    list_filter = [
        "stage",
        "needs_review",
        "preferred_channel",
        "voicemail_ok",
        "mention_clinic_ok",
    ]
    search_fields = ["=phone", "=email"]
    readonly_fields = [
        "created_at",
        "contacting_at",
        "contacted_at",
        "consult_booked_at",
        "consult_attended_at",
        "admitted_at",
        "closed_at",
        "phone_type",
    ]
    inlines = [SubmissionInline]


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "article",
        "utm_source",
        "utm_campaign",
        "in_crisis",
        "crisis_language",
        "is_spam",
        "created_at",
    ]
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
    ]


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    """The consent ledger is append-only: readable, never edited."""

    list_display = ["submission", "scope", "granted", "phone", "text_version", "created_at"]
    list_filter = ["scope", "granted", "text_version"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
