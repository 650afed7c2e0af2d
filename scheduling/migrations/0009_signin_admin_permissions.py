"""The admin role manages sign-in: unlocks locked-out users (django-axes' attempts),
resets lost second factors (django-otp devices) and issues or revokes API tokens
(django-rest-knox). Data only; see 0006_role_permissions for the other roles."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "axes": {
        "accessattempt": ("view", "delete"),
        "accesslog": ("view",),
        "accessfailurelog": ("view",),
    },
    "otp_totp": {"totpdevice": ("view", "delete")},
    "otp_static": {"staticdevice": ("view", "delete")},
    "knox": {"authtoken": ("add", "view", "delete")},
}


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    for label in GRANTS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    return [
        Permission.objects.get(content_type__app_label=label, codename=f"{action}_{model}")
        for label, models in GRANTS.items()
        for model, actions in models.items()
        for action in actions
    ]


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.remove(
            *Permission.objects.filter(content_type__app_label__in=list(GRANTS))
        )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0008_callattempt_notes_encrypt"),
        ("axes", "0010_accessattemptexpiration"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
