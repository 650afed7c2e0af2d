"""The admin role may open an insurance record in the Django admin (read only, every
opening audited); the care roles work with insurance on the callback page and the API,
which check roles, not model permissions (as 0017 for screenings)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ("view_insurancerecord", "view_insuranceverification")


def _permissions(apps):
    app_config = apps.get_app_config("intake")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="intake", codename__in=CODENAMES)


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
            *Permission.objects.filter(content_type__app_label="intake", codename__in=CODENAMES)
        )


class Migration(migrations.Migration):
    # No dependency on scheduling's 0006_role_permissions: see 0017.
    dependencies = [("intake", "0018_insurance")]

    operations = [migrations.RunPython(grant, revoke)]
