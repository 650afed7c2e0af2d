"""Crisis follow-up: alerts acknowledged by a supervisor, addressed to one coordinator
(a reassignment's notice) and kept until a crisis is settled; the supervisor's decision
on a crisis nobody reached (CrisisDecision), which the admin role may see in the admin
and care staff may view (as 0006_role_permissions grants for the other models)."""

import django.db.models.deletion
import pghistory.utils
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

import clinic.crypto

GRANTS = {
    "admin": ("add", "change", "delete", "view"),
    "supervisor": ("view",),
    "coordinator": ("view",),
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("scheduling")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, actions in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="scheduling",
                codename__in=[f"{action}_crisisdecision" for action in actions],
            )
        )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="scheduling", codename__endswith="_crisisdecision"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0015_request_link_choices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CrisisDecision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("retry", "Keep trying"), ("close", "Close: unreachable")],
                        max_length=10,
                    ),
                ),
                ("retry_at", models.DateTimeField(blank=True, null=True)),
                ("reason", clinic.crypto.EncryptedTextField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="CrisisDecisionEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                (
                    "personal_changed",
                    models.CharField(
                        blank=True,
                        help_text="Personal columns this update changed (names only).",
                        max_length=500,
                        null=True,
                    ),
                ),
                ("pgh_context", pghistory.utils.JSONField(null=True)),
                ("pgh_context_id", models.UUIDField(null=True)),
                ("id", models.BigIntegerField()),
                (
                    "action",
                    models.CharField(
                        choices=[("retry", "Keep trying"), ("close", "Close: unreachable")],
                        max_length=10,
                    ),
                ),
                ("retry_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "abstract": False,
            },
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="staffalert",
            name="insert_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="staffalert",
            name="update_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="staffalert",
            name="delete_delete",
        ),
        migrations.AddField(
            model_name="staffalert",
            name="acknowledged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="staffalert",
            name="acknowledged_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="staffalert",
            name="recipient",
            field=models.ForeignKey(
                blank=True,
                help_text="For the one-person audience: who it is for.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="staff_notices",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="staffalertevent",
            name="acknowledged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="staffalertevent",
            name="acknowledged_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="staffalertevent",
            name="recipient",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="For the one-person audience: who it is for.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="staffalert",
            name="audience",
            field=models.CharField(
                choices=[
                    ("pool", "Coordinators on duty"),
                    ("supervisor", "Supervisors"),
                    ("coordinator", "The coordinator it was given to"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="staffalert",
            name="kind",
            field=models.CharField(
                choices=[
                    ("unclaimed", "Callback waiting past its due time"),
                    ("urgent", "Urgent (crisis) request"),
                    ("patient_replied", "Patient replied"),
                    ("crisis_decision", "Crisis not reached after every crisis retry"),
                    ("assigned", "Callback given to you by a supervisor"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="staffalertevent",
            name="audience",
            field=models.CharField(
                choices=[
                    ("pool", "Coordinators on duty"),
                    ("supervisor", "Supervisors"),
                    ("coordinator", "The coordinator it was given to"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="staffalertevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("unclaimed", "Callback waiting past its due time"),
                    ("urgent", "Urgent (crisis) request"),
                    ("patient_replied", "Patient replied"),
                    ("crisis_decision", "Crisis not reached after every crisis retry"),
                    ("assigned", "Callback given to you by a supervisor"),
                ],
                max_length=20,
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="staffalert",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "scheduling_staffalertevent" ("acknowledged_at", "acknowledged_by_id", "audience", "callback_id", "created_at", "id", "kind", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "recipient_id", "resolved_at") VALUES (NEW."acknowledged_at", NEW."acknowledged_by_id", NEW."audience", NEW."callback_id", NEW."created_at", NEW."id", NEW."kind", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'insert\', NEW."id", NEW."recipient_id", NEW."resolved_at"); RETURN NULL;',
                    hash="c4c51d2ad47e7507167f758ea2aa631e3a797b97",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_cf878",
                    table="scheduling_staffalert",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="staffalert",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "scheduling_staffalertevent" ("acknowledged_at", "acknowledged_by_id", "audience", "callback_id", "created_at", "id", "kind", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "recipient_id", "resolved_at") VALUES (NEW."acknowledged_at", NEW."acknowledged_by_id", NEW."audience", NEW."callback_id", NEW."created_at", NEW."id", NEW."kind", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."recipient_id", NEW."resolved_at"); RETURN NULL;',
                    hash="e41c0d052f54d3aee11087e58df568fb13f6c4a0",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_220e5",
                    table="scheduling_staffalert",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="staffalert",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "scheduling_staffalertevent" ("acknowledged_at", "acknowledged_by_id", "audience", "callback_id", "created_at", "id", "kind", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "recipient_id", "resolved_at") VALUES (OLD."acknowledged_at", OLD."acknowledged_by_id", OLD."audience", OLD."callback_id", OLD."created_at", OLD."id", OLD."kind", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'delete\', OLD."id", OLD."recipient_id", OLD."resolved_at"); RETURN NULL;',
                    hash="501023f1eeb0c574e9516030f10ce4b7dbd2c9a7",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_ba3ce",
                    table="scheduling_staffalert",
                    when="AFTER",
                ),
            ),
        ),
        migrations.AddField(
            model_name="crisisdecision",
            name="callback",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="crisis_decisions",
                to="scheduling.callback",
            ),
        ),
        migrations.AddField(
            model_name="crisisdecision",
            name="decided_by",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="crisisdecisionevent",
            name="callback",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="scheduling.callback",
            ),
        ),
        migrations.AddField(
            model_name="crisisdecisionevent",
            name="decided_by",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="crisisdecisionevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="events",
                to="scheduling.crisisdecision",
            ),
        ),
        migrations.AddConstraint(
            model_name="crisisdecision",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("action", "close"), ("retry_at__isnull", False), _connector="OR"
                ),
                name="crisis_decision_retry_has_time",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="crisisdecision",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "scheduling_crisisdecisionevent" ("action", "callback_id", "created_at", "decided_by_id", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "retry_at") VALUES (NEW."action", NEW."callback_id", NEW."created_at", NEW."decided_by_id", NEW."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'insert\', NEW."id", NEW."retry_at"); RETURN NULL;',
                    hash="6a6381b34337db77b0480df59944a329ad6847e6",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_cb018",
                    table="scheduling_crisisdecision",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="crisisdecision",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "scheduling_crisisdecisionevent" ("personal_changed", "action", "callback_id", "created_at", "decided_by_id", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "retry_at") VALUES (CONCAT_WS(\',\', CASE WHEN OLD."reason" IS DISTINCT FROM NEW."reason" THEN \'reason\' END), NEW."action", NEW."callback_id", NEW."created_at", NEW."decided_by_id", NEW."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."retry_at"); RETURN NULL;',
                    hash="a096fc7a2743dd37a3db30dc253e855794f0e315",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_caf51",
                    table="scheduling_crisisdecision",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="crisisdecision",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "scheduling_crisisdecisionevent" ("action", "callback_id", "created_at", "decided_by_id", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "retry_at") VALUES (OLD."action", OLD."callback_id", OLD."created_at", OLD."decided_by_id", OLD."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'delete\', OLD."id", OLD."retry_at"); RETURN NULL;',
                    hash="ae8e54a76ee94e7fc4d112be95edd18b60b6128e",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_3fe69",
                    table="scheduling_crisisdecision",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="crisisdecisionevent",
            trigger=pgtrigger.compiler.Trigger(
                name="append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="0aeac5d549678de00f4015d0d9a986c9e150c428",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_append_only_8068d",
                    table="scheduling_crisisdecisionevent",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.RunPython(grant, revoke),
    ]
