"""Clinic time (opening hours, closures) moves to the clinic app, in Django's state
only: the tables, their audit event tables and their triggers stay as they are (the
clinic app's models keep their names: see clinic's 0001_clinic_time_from_scheduling).
Their content types move with them, so their permissions and every role's grants of
them (0006_role_permissions) now name the clinic app; nothing is rebuilt or lost."""

from django.conf import settings
from django.db import migrations

MOVED_MODELS = ("openinghours", "clinicclosure", "openinghoursevent", "clinicclosureevent")


def _fold(apps, moving, there):
    """Fold ``there``, a content type the target app already has (made by a post_migrate
    since: a migration back and forth with this code), into ``moving``, which has the
    roles' grants: its permissions' grants and admin log entries move over, then it
    goes, so no grant and no history is lost."""
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    LogEntry = apps.get_model("admin", "LogEntry")
    grants = ((Group.permissions.through, "group_id"), (User.user_permissions.through, "user_id"))
    for permission in Permission.objects.filter(content_type=there):
        kept = Permission.objects.filter(content_type=moving, codename=permission.codename).first()
        if kept is None:
            permission.content_type = moving
            permission.save(update_fields=["content_type"])
            continue
        for through, owner in grants:
            owners = through.objects.filter(permission_id=permission.pk).values_list(
                owner, flat=True
            )
            through.objects.bulk_create(
                [through(**{owner: owner_id, "permission_id": kept.pk}) for owner_id in owners],
                ignore_conflicts=True,
            )
        permission.delete()
    LogEntry.objects.filter(content_type=there).update(content_type=moving)
    there.delete()


def _relabel(apps, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED_MODELS:
        moving = ContentType.objects.filter(app_label=source, model=model).first()
        if moving is None:
            continue
        there = ContentType.objects.filter(app_label=target, model=model).first()
        if there is not None:
            _fold(apps, moving, there)
        moving.app_label = target
        moving.save(update_fields=["app_label"])
    ContentType.objects.clear_cache()


def content_types_to_clinic(apps, schema_editor):
    _relabel(apps, "scheduling", "clinic")


def content_types_to_scheduling(apps, schema_editor):
    _relabel(apps, "clinic", "scheduling")


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0017_call_settings_and_calls"),
        ("clinic", "0001_clinic_time_from_scheduling"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="clinicclosureevent",
                    name="pgh_obj",
                ),
                migrations.RemoveField(
                    model_name="openinghoursevent",
                    name="pgh_obj",
                ),
                migrations.DeleteModel(
                    name="ClinicClosure",
                ),
                migrations.DeleteModel(
                    name="ClinicClosureEvent",
                ),
                migrations.DeleteModel(
                    name="OpeningHours",
                ),
                migrations.DeleteModel(
                    name="OpeningHoursEvent",
                ),
            ],
            database_operations=[
                migrations.RunPython(content_types_to_clinic, content_types_to_scheduling),
            ],
        ),
    ]
