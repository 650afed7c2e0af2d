"""Clinic time (opening hours, closures) moves to the clinic app, in Django's state
only: the tables, their audit event tables and their triggers stay as they are (the
clinic app's models keep their names: see clinic's 0001_clinic_time_from_scheduling).
Their content types move with them, so their permissions and every role's grants of
them (0006_role_permissions) now name the clinic app; nothing is rebuilt or lost."""

from django.db import migrations

MOVED_MODELS = ("openinghours", "clinicclosure", "openinghoursevent", "clinicclosureevent")


def _relabel(apps, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED_MODELS:
        # A content type the target app already has (made by a post_migrate of a
        # partial migrate) is kept; the source's then stays, stale, with its grants.
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)
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
