"""Messages keep the keyed hash of their recipient's number or mailbox, so that "one
confirmation a day" counts every spelling of an address as one; existing messages get
theirs here, in batches, before the index and the audit trigger come back (a backfill
is not a change anyone made). Reversing drops the column."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from clinic.crypto import email_hash, phone_hash

BATCH_SIZE = 1000


def recipient_hashes_fill(apps, schema_editor):
    Message = apps.get_model("notifications", "Message")
    last = 0
    while True:
        rows = list(
            Message.objects.filter(pk__gt=last, recipient_hash="")
            .exclude(recipient="")
            .order_by("pk")
            .values_list("pk", "channel", "recipient")[:BATCH_SIZE]
        )
        if not rows:
            return
        changes = []
        for pk, channel, recipient in rows:
            hashed = email_hash(recipient) if channel == "email" else phone_hash(recipient)
            if hashed:
                changes.append([hashed, pk])
        if changes:
            with schema_editor.connection.cursor() as cursor:
                cursor.executemany(
                    "UPDATE notifications_message SET recipient_hash = %s WHERE id = %s", changes
                )
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0011_refusal_withdrawn"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="message",
            name="update_update",
        ),
        migrations.AddField(
            model_name="message",
            name="recipient_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(recipient_hashes_fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["recipient_hash", "created_at"], name="message_recipient_recent"
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="message",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "notifications_messageevent" ("personal_changed", "attachment_name", "attempts", "channel", "correlation", "created_at", "dedupe_key", "delivered_at", "error_code", "failed_at", "give_up_at", "id", "next_attempt_at", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "provider_id", "purpose", "recipient_time_zone", "send_after", "sending_at", "sent_at", "status", "template", "template_version") VALUES (CONCAT_WS(\',\', CASE WHEN OLD."recipient" IS DISTINCT FROM NEW."recipient" THEN \'recipient\' END, CASE WHEN OLD."recipient_hash" IS DISTINCT FROM NEW."recipient_hash" THEN \'recipient_hash\' END, CASE WHEN OLD."subject" IS DISTINCT FROM NEW."subject" THEN \'subject\' END, CASE WHEN OLD."body" IS DISTINCT FROM NEW."body" THEN \'body\' END, CASE WHEN OLD."body_html" IS DISTINCT FROM NEW."body_html" THEN \'body_html\' END, CASE WHEN OLD."attachment" IS DISTINCT FROM NEW."attachment" THEN \'attachment\' END, CASE WHEN OLD."error_message" IS DISTINCT FROM NEW."error_message" THEN \'error_message\' END), NEW."attachment_name", NEW."attempts", NEW."channel", NEW."correlation", NEW."created_at", NEW."dedupe_key", NEW."delivered_at", NEW."error_code", NEW."failed_at", NEW."give_up_at", NEW."id", NEW."next_attempt_at", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, CLOCK_TIMESTAMP(), \'update\', NEW."id", NEW."provider_id", NEW."purpose", NEW."recipient_time_zone", NEW."send_after", NEW."sending_at", NEW."sent_at", NEW."status", NEW."template", NEW."template_version"); RETURN NULL;',
                    hash="838bf62d8e2524ecbf0dbbf57b75db459f03cb23",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_14055",
                    table="notifications_message",
                    when="AFTER",
                ),
            ),
        ),
    ]
