"""Clinic time (opening hours, closures) moves here from scheduling, in Django's state
only: the tables, their audit event tables and their triggers stay exactly as
scheduling made them (``Meta.db_table``, ``audited(moved_from="scheduling")``), so
nothing in the database is rebuilt, renamed or touched. scheduling's
0018_clinic_time_to_clinic removes them from its state and moves their content types
(and so their permissions and the roles' grants) here."""

import django.db.models.deletion
import pghistory.utils
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    # No dependency on scheduling's migrations, though they made the tables: this one
    # touches no table, and a dependency would move scheduling's migrations ahead of
    # intake's and notifications' in a fresh database's plan, so 0006_role_permissions
    # would grant the admin role fewer models than it always has.
    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ClinicClosure",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("day", models.DateField(unique=True)),
                        ("reason", models.CharField(max_length=200)),
                    ],
                    options={
                        "db_table": "scheduling_clinicclosure",
                        "ordering": ["day"],
                    },
                ),
                migrations.CreateModel(
                    name="ClinicClosureEvent",
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
                        ("day", models.DateField()),
                        ("reason", models.CharField(max_length=200)),
                    ],
                    options={
                        "db_table": "scheduling_clinicclosureevent",
                        "abstract": False,
                    },
                ),
                migrations.CreateModel(
                    name="OpeningHours",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "weekday",
                            models.PositiveSmallIntegerField(
                                choices=[
                                    (0, "Monday"),
                                    (1, "Tuesday"),
                                    (2, "Wednesday"),
                                    (3, "Thursday"),
                                    (4, "Friday"),
                                    (5, "Saturday"),
                                    (6, "Sunday"),
                                ]
                            ),
                        ),
                        ("opens_at", models.TimeField()),
                        ("closes_at", models.TimeField()),
                    ],
                    options={
                        "verbose_name_plural": "opening hours",
                        "db_table": "scheduling_openinghours",
                        "ordering": ["weekday", "opens_at"],
                    },
                ),
                migrations.CreateModel(
                    name="OpeningHoursEvent",
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
                            "weekday",
                            models.PositiveSmallIntegerField(
                                choices=[
                                    (0, "Monday"),
                                    (1, "Tuesday"),
                                    (2, "Wednesday"),
                                    (3, "Thursday"),
                                    (4, "Friday"),
                                    (5, "Saturday"),
                                    (6, "Sunday"),
                                ]
                            ),
                        ),
                        ("opens_at", models.TimeField()),
                        ("closes_at", models.TimeField()),
                    ],
                    options={
                        "db_table": "scheduling_openinghoursevent",
                        "abstract": False,
                    },
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="clinicclosure",
                    trigger=pgtrigger.compiler.Trigger(
                        name="insert_insert",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            func='INSERT INTO "scheduling_clinicclosureevent" ("day", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reason") VALUES (NEW."day", NEW."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'insert\', NEW."id", NEW."reason"); RETURN NULL;',
                            hash="a4d1c05f71f9f4a0efd7fa0ba0136f79a344efcb",
                            operation="INSERT",
                            pgid="pgtrigger_insert_insert_1bea2",
                            table="scheduling_clinicclosure",
                            when="AFTER",
                        ),
                    ),
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="clinicclosure",
                    trigger=pgtrigger.compiler.Trigger(
                        name="update_update",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                            func='INSERT INTO "scheduling_clinicclosureevent" ("day", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reason") VALUES (NEW."day", NEW."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."reason"); RETURN NULL;',
                            hash="eebc0d51ef68c9cfa9694b10f0e086b29b012995",
                            operation="UPDATE",
                            pgid="pgtrigger_update_update_7547d",
                            table="scheduling_clinicclosure",
                            when="AFTER",
                        ),
                    ),
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="clinicclosure",
                    trigger=pgtrigger.compiler.Trigger(
                        name="delete_delete",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            func='INSERT INTO "scheduling_clinicclosureevent" ("day", "id", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reason") VALUES (OLD."day", OLD."id", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'delete\', OLD."id", OLD."reason"); RETURN NULL;',
                            hash="d08c57a829102fc755abca0f6dcb4c4d584792b0",
                            operation="DELETE",
                            pgid="pgtrigger_delete_delete_072cf",
                            table="scheduling_clinicclosure",
                            when="AFTER",
                        ),
                    ),
                ),
                migrations.AddField(
                    model_name="clinicclosureevent",
                    name="pgh_obj",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="events",
                        to="clinic.clinicclosure",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="openinghours",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("closes_at__gt", models.F("opens_at"))),
                        name="opening_hours_closes_after_opens",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="openinghours",
                    constraint=models.UniqueConstraint(
                        fields=("weekday", "opens_at"), name="opening_hours_unique"
                    ),
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="openinghours",
                    trigger=pgtrigger.compiler.Trigger(
                        name="insert_insert",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            func='INSERT INTO "scheduling_openinghoursevent" ("closes_at", "id", "opens_at", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "weekday") VALUES (NEW."closes_at", NEW."id", NEW."opens_at", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'insert\', NEW."id", NEW."weekday"); RETURN NULL;',
                            hash="640966c5e21371f94519c96ab2548d64199bc43a",
                            operation="INSERT",
                            pgid="pgtrigger_insert_insert_943de",
                            table="scheduling_openinghours",
                            when="AFTER",
                        ),
                    ),
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="openinghours",
                    trigger=pgtrigger.compiler.Trigger(
                        name="update_update",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                            func='INSERT INTO "scheduling_openinghoursevent" ("closes_at", "id", "opens_at", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "weekday") VALUES (NEW."closes_at", NEW."id", NEW."opens_at", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."weekday"); RETURN NULL;',
                            hash="0474d8bc025924d7cb0ebc8c6601cabd00f8e25a",
                            operation="UPDATE",
                            pgid="pgtrigger_update_update_f0682",
                            table="scheduling_openinghours",
                            when="AFTER",
                        ),
                    ),
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="openinghours",
                    trigger=pgtrigger.compiler.Trigger(
                        name="delete_delete",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            func='INSERT INTO "scheduling_openinghoursevent" ("closes_at", "id", "opens_at", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "weekday") VALUES (OLD."closes_at", OLD."id", OLD."opens_at", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'delete\', OLD."id", OLD."weekday"); RETURN NULL;',
                            hash="197b9ba88225befa7477a68192bd2e615f311b99",
                            operation="DELETE",
                            pgid="pgtrigger_delete_delete_38bf6",
                            table="scheduling_openinghours",
                            when="AFTER",
                        ),
                    ),
                ),
                migrations.AddField(
                    model_name="openinghoursevent",
                    name="pgh_obj",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="events",
                        to="clinic.openinghours",
                    ),
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="clinicclosureevent",
                    trigger=pgtrigger.compiler.Trigger(
                        name="append_only",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                            hash="34a28ff4e4dbe8d07502d9b2ed80617e9971974d",
                            operation="UPDATE OR DELETE",
                            pgid="pgtrigger_append_only_37dff",
                            table="scheduling_clinicclosureevent",
                            when="BEFORE",
                        ),
                    ),
                ),
                pgtrigger.migrations.AddTrigger(
                    model_name="openinghoursevent",
                    trigger=pgtrigger.compiler.Trigger(
                        name="append_only",
                        sql=pgtrigger.compiler.UpsertTriggerSql(
                            func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                            hash="d0d1280b379ddbaf2ed894db487dc4cfd5d1c4ef",
                            operation="UPDATE OR DELETE",
                            pgid="pgtrigger_append_only_a9dc5",
                            table="scheduling_openinghoursevent",
                            when="BEFORE",
                        ),
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
