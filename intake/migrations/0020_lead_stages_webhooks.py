"""The admissions steps on the lead and in the funnel rollups (screened, insurance
verified, waitlisted), and the delivery log of outbound webhooks, which the admin
role may view (as 0017 grants screenings: no dependency on scheduling's
0006_role_permissions)."""

import uuid

import pgtrigger.compiler
import pgtrigger.migrations
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

CODENAME = "view_webhookdelivery"


def grant(apps, schema_editor):
    app_config = apps.get_app_config("intake")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(
        Permission.objects.get(content_type__app_label="intake", codename=CODENAME)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.remove(
            *Permission.objects.filter(content_type__app_label="intake", codename=CODENAME)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0019_insurance_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebhookDelivery",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "event_id",
                    models.UUIDField(
                        default=uuid.uuid4,
                        editable=False,
                        help_text="The idempotency id (X-Clinic-Event-Id): the same on every try and for every endpoint of the event.",
                    ),
                ),
                ("event_type", models.CharField(max_length=40)),
                (
                    "endpoint",
                    models.URLField(help_text="As configured in WEBHOOK_URLS.", max_length=500),
                ),
                (
                    "lead_id",
                    models.BigIntegerField(db_index=True, help_text="The lead (by id, not a key)."),
                ),
                ("stage", models.CharField(max_length=30)),
                ("stage_at", models.DateTimeField(help_text="When the lead reached the stage.")),
                ("appointment_id", models.BigIntegerField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("delivered", "Delivered"),
                            ("failed", "Failed (no more tries)"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                (
                    "next_attempt_at",
                    models.DateTimeField(
                        help_text="When the next try is due (a try in progress holds it a little ahead)."
                    ),
                ),
                ("last_status_code", models.PositiveIntegerField(blank=True, null=True)),
                ("last_error", models.CharField(blank=True, max_length=200)),
                ("last_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("delivered_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name_plural": "webhook deliveries",
                "ordering": ["-created_at", "-pk"],
            },
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="lead",
            name="insert_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="lead",
            name="update_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="lead",
            name="delete_delete",
        ),
        migrations.AddField(
            model_name="funnelrollup",
            name="insurance_verified",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="funnelrollup",
            name="insurance_verified_key",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="funnelrollup",
            name="screened",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="funnelrollup",
            name="screened_key",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="funnelrollup",
            name="waitlisted",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="funnelrollup",
            name="waitlisted_key",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="lead",
            name="insurance_verified_at",
            field=models.DateTimeField(
                blank=True, help_text="Benefits first verified (in or out of network).", null=True
            ),
        ),
        migrations.AddField(
            model_name="lead",
            name="screened_at",
            field=models.DateTimeField(
                blank=True, help_text="First pre-admission screening recorded.", null=True
            ),
        ),
        migrations.AddField(
            model_name="lead",
            name="waitlisted_at",
            field=models.DateTimeField(
                blank=True, help_text="First put on the waitlist.", null=True
            ),
        ),
        migrations.AddField(
            model_name="leadevent",
            name="insurance_verified_at",
            field=models.DateTimeField(
                blank=True, help_text="Benefits first verified (in or out of network).", null=True
            ),
        ),
        migrations.AddField(
            model_name="leadevent",
            name="screened_at",
            field=models.DateTimeField(
                blank=True, help_text="First pre-admission screening recorded.", null=True
            ),
        ),
        migrations.AddField(
            model_name="leadevent",
            name="waitlisted_at",
            field=models.DateTimeField(
                blank=True, help_text="First put on the waitlist.", null=True
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="lead",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "intake_leadevent" ("admitted_at", "anonymised_at", "anonymised_reason", "best_time", "closed_at", "consult_attended_at", "consult_booked_at", "contacted_at", "contacting_at", "created_at", "email_verified_at", "email_verified_by", "first_attempt_at", "first_conversation_at", "first_conversation_by_id", "first_conversation_via", "id", "insurance_verified_at", "mention_clinic_ok", "name_confirmed_at", "needs_review", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "phone_type", "phone_verified_at", "phone_verified_by", "preferred_channel", "screened_at", "stage", "voicemail_ok", "waitlisted_at") VALUES (NEW."admitted_at", NEW."anonymised_at", NEW."anonymised_reason", NEW."best_time", NEW."closed_at", NEW."consult_attended_at", NEW."consult_booked_at", NEW."contacted_at", NEW."contacting_at", NEW."created_at", NEW."email_verified_at", NEW."email_verified_by", NEW."first_attempt_at", NEW."first_conversation_at", NEW."first_conversation_by_id", NEW."first_conversation_via", NEW."id", NEW."insurance_verified_at", NEW."mention_clinic_ok", NEW."name_confirmed_at", NEW."needs_review", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'insert\', NEW."id", NEW."phone_type", NEW."phone_verified_at", NEW."phone_verified_by", NEW."preferred_channel", NEW."screened_at", NEW."stage", NEW."voicemail_ok", NEW."waitlisted_at"); RETURN NULL;',
                    hash="0ef937895a8d42e42c629787c6510f87e1e81d6e",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_d5616",
                    table="intake_lead",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="lead",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "intake_leadevent" ("personal_changed", "admitted_at", "anonymised_at", "anonymised_reason", "best_time", "closed_at", "consult_attended_at", "consult_booked_at", "contacted_at", "contacting_at", "created_at", "email_verified_at", "email_verified_by", "first_attempt_at", "first_conversation_at", "first_conversation_by_id", "first_conversation_via", "id", "insurance_verified_at", "mention_clinic_ok", "name_confirmed_at", "needs_review", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "phone_type", "phone_verified_at", "phone_verified_by", "preferred_channel", "screened_at", "stage", "voicemail_ok", "waitlisted_at") VALUES (CONCAT_WS(\',\', CASE WHEN OLD."first_name" IS DISTINCT FROM NEW."first_name" THEN \'first_name\' END, CASE WHEN OLD."last_name" IS DISTINCT FROM NEW."last_name" THEN \'last_name\' END, CASE WHEN OLD."phone" IS DISTINCT FROM NEW."phone" THEN \'phone\' END, CASE WHEN OLD."email" IS DISTINCT FROM NEW."email" THEN \'email\' END, CASE WHEN OLD."phone_hash" IS DISTINCT FROM NEW."phone_hash" THEN \'phone_hash\' END, CASE WHEN OLD."email_hash" IS DISTINCT FROM NEW."email_hash" THEN \'email_hash\' END, CASE WHEN OLD."timezone" IS DISTINCT FROM NEW."timezone" THEN \'timezone\' END, CASE WHEN OLD."closed_reason" IS DISTINCT FROM NEW."closed_reason" THEN \'closed_reason\' END), NEW."admitted_at", NEW."anonymised_at", NEW."anonymised_reason", NEW."best_time", NEW."closed_at", NEW."consult_attended_at", NEW."consult_booked_at", NEW."contacted_at", NEW."contacting_at", NEW."created_at", NEW."email_verified_at", NEW."email_verified_by", NEW."first_attempt_at", NEW."first_conversation_at", NEW."first_conversation_by_id", NEW."first_conversation_via", NEW."id", NEW."insurance_verified_at", NEW."mention_clinic_ok", NEW."name_confirmed_at", NEW."needs_review", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."phone_type", NEW."phone_verified_at", NEW."phone_verified_by", NEW."preferred_channel", NEW."screened_at", NEW."stage", NEW."voicemail_ok", NEW."waitlisted_at"); RETURN NULL;',
                    hash="0e0096c807719a289079b81a9156c462015e95bb",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_dcf39",
                    table="intake_lead",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="lead",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "intake_leadevent" ("admitted_at", "anonymised_at", "anonymised_reason", "best_time", "closed_at", "consult_attended_at", "consult_booked_at", "contacted_at", "contacting_at", "created_at", "email_verified_at", "email_verified_by", "first_attempt_at", "first_conversation_at", "first_conversation_by_id", "first_conversation_via", "id", "insurance_verified_at", "mention_clinic_ok", "name_confirmed_at", "needs_review", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "phone_type", "phone_verified_at", "phone_verified_by", "preferred_channel", "screened_at", "stage", "voicemail_ok", "waitlisted_at") VALUES (OLD."admitted_at", OLD."anonymised_at", OLD."anonymised_reason", OLD."best_time", OLD."closed_at", OLD."consult_attended_at", OLD."consult_booked_at", OLD."contacted_at", OLD."contacting_at", OLD."created_at", OLD."email_verified_at", OLD."email_verified_by", OLD."first_attempt_at", OLD."first_conversation_at", OLD."first_conversation_by_id", OLD."first_conversation_via", OLD."id", OLD."insurance_verified_at", OLD."mention_clinic_ok", OLD."name_confirmed_at", OLD."needs_review", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'delete\', OLD."id", OLD."phone_type", OLD."phone_verified_at", OLD."phone_verified_by", OLD."preferred_channel", OLD."screened_at", OLD."stage", OLD."voicemail_ok", OLD."waitlisted_at"); RETURN NULL;',
                    hash="b627f72cb4a225f840d5d7356188afa27fa3d543",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_d51af",
                    table="intake_lead",
                    when="AFTER",
                ),
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
            ),
        ),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.UniqueConstraint(
                fields=("event_id", "endpoint"), name="webhook_delivery_event_endpoint_unique"
            ),
        ),
        migrations.RunPython(grant, revoke),
    ]
