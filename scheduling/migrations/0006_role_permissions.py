"""Attach model permissions to the staff roles (the groups made by 0002_staff_roles).

Pages and APIs check roles (``clinic.roles``); these permissions govern what each
role may do in the Django admin and are what a role means to anyone reading the
groups. Marketing gets aggregates only: articles and their counts, never a lead,
a submission, a message or a call.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ("view",)
WORK = ("view", "change")
ALL = ("add", "change", "delete", "view")

COORDINATOR = {
    "intake": {"article": VIEW, "lead": VIEW, "submission": VIEW, "consent": VIEW},
    "scheduling": {
        "callback": WORK,
        "callattempt": ("add", "view"),
        "appointment": ("add", "change", "view"),
        "clinician": VIEW,
        "availability": VIEW,
        "availabilityexception": VIEW,
        "openinghours": VIEW,
        "clinicclosure": VIEW,
        "staffalert": VIEW,
    },
    "notifications": {
        "message": VIEW,
        "inboundmessage": VIEW,
        "inboundcall": VIEW,
        "optout": VIEW,
    },
}

SUPERVISOR = {
    "intake": {**COORDINATOR["intake"], "lead": WORK},
    "scheduling": {
        **COORDINATOR["scheduling"],
        "staffalert": WORK,
        "clinician": ALL,
        "availability": ALL,
        "availabilityexception": ALL,
        "openinghours": ALL,
        "clinicclosure": ALL,
    },
    "notifications": {**COORDINATOR["notifications"], "messagetemplate": VIEW},
}

MARKETING = {
    "intake": {"article": VIEW, "articledailycount": VIEW},
}

# Admins manage users and roles, articles, clinic hours and message templates:
# every permission of the project's apps and of users and groups.
ADMIN_APPS = ("intake", "scheduling", "notifications")
ADMIN_AUTH_MODELS = ("user", "group")

ROLES = {"coordinator": COORDINATOR, "supervisor": SUPERVISOR, "marketing": MARKETING}


def _codenames(grants):
    return {
        (app_label, f"{action}_{model}")
        for app_label, models in grants.items()
        for model, actions in models.items()
        for action in actions
    }


def _ensure_permissions(apps):
    """Permissions are normally made after ``migrate`` (post_migrate); on a fresh
    database they do not exist yet at this point, so make them now."""
    for label in ("auth", *ADMIN_APPS):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def _permissions(apps, wanted):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codename in sorted(wanted):
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def _admin_permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return list(
        Permission.objects.filter(content_type__app_label__in=ADMIN_APPS)
        | Permission.objects.filter(
            content_type__app_label="auth", content_type__model__in=ADMIN_AUTH_MODELS
        )
    )


def grant(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, _codenames(grants)))
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*_admin_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role in (*ROLES, "admin"):
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0005_queue_indexes"),
        ("intake", "0003_call_tracking"),
        ("notifications", "0004_inbound_call"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
