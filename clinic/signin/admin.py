"""Admin pages for sign-in: reset a user's second factor, unlock (django-axes'
own admin: delete the access attempt), and integration API tokens."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from knox.models import AuthToken

from clinic.signin import services


class ClinicUserAdmin(UserAdmin):
    actions = ["reset_two_factor"]

    @admin.action(description="Reset two-factor sign-in (lost phone)")
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet) -> None:
        removed = sum(services.otp_devices_reset(user=user) for user in queryset)
        self.message_user(
            request,
            f"Two-factor sign-in reset for {queryset.count()} user(s), {removed} device(s) "
            "removed: they enrol again at their next sign-in.",
            messages.SUCCESS,
        )


class ApiTokenAddForm(forms.ModelForm):
    ttl_days = forms.IntegerField(
        label="Lifetime (days)",
        min_value=0,
        required=False,
        help_text="Empty: API_TOKEN_TTL_DAYS. 0: never expires (not recommended).",
    )

    class Meta:
        model = AuthToken
        fields = ("user",)


class ApiTokenAdmin(admin.ModelAdmin):
    """Integration tokens, made here or with ``manage.py api_token``. The secret
    is shown once; only its hash is kept. Deleting a token revokes it."""

    list_display = ("token_key", "user", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("token_key", "user__username")
    readonly_fields = ("token_key", "user", "created", "expiry")
    raw_id_fields = ("user",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
            kwargs["fields"] = ("user", "ttl_days")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        return ("user", "ttl_days") if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        issued = services.api_token_create(
            username=form.cleaned_data["user"].username, ttl_days=form.cleaned_data["ttl_days"]
        )
        for field in ("digest", "token_key", "user", "created", "expiry"):
            setattr(obj, field, getattr(issued.token, field))
        self.message_user(
            request,
            f"Token for {obj.user.username}: {issued.secret} — copy it now, it is not shown again.",
            messages.WARNING,
        )


def register(site: admin.AdminSite) -> None:
    """Swap in the clinic's user admin and token admin (called from
    ``config.admin.ClinicAdminConfig.ready``, after autodiscovery)."""
    User = get_user_model()
    for model, model_admin in ((User, ClinicUserAdmin), (AuthToken, ApiTokenAdmin)):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
