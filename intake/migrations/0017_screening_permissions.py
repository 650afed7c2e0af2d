"""The admin role may open a screening in the Django admin (read only, every opening
audited); the care roles work with screenings on the callback page and the API, which
check roles, not model permissions (see scheduling 0006_role_permissions)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAME = "view_screening"


def _permission(apps):
    app_config = apps.get_app_config("intake")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.get(content_type__app_label="intake", codename=CODENAME)


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(_permission(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.remove(
            *Permission.objects.filter(content_type__app_label="intake", codename=CODENAME)
        )


class Migration(migrations.Migration):
    # No dependency on scheduling's 0006_role_permissions (the admin group is made here
    # if it is not there yet): a dependency would move scheduling's migrations ahead of
    # notifications' in a fresh database's plan, and 0006 would grant the admin role
    # fewer models than it always has (clinic 0001 says the same).
    dependencies = [("intake", "0016_screenings")]

    operations = [migrations.RunPython(grant, revoke)]
