"""Data: the keyed hashes of leads' and consents' phones and emails, and submission
messages encrypted. Reversing decrypts the messages (the hash columns go with 0005)."""

from django.db import migrations

from clinic.crypto import (
    column_rewrite,
    decrypt_token,
    email_hash,
    encrypt_plain,
    phone_hash,
)


def hashes_fill(apps, schema_editor):
    Lead = apps.get_model("intake", "Lead")
    Consent = apps.get_model("intake", "Consent")
    taken: dict[str, set[str]] = {"phone_hash": set(), "email_hash": set()}
    for lead in Lead.objects.order_by("created_at", "pk").iterator():
        update = {"phone_hash": phone_hash(str(lead.phone)), "email_hash": email_hash(lead.email)}
        if lead.stage != "closed":
            for name, value in list(update.items()):
                if value and value in taken[name]:
                    # Two open leads whose addresses differ only in case: the later
                    # one keeps no hash (it stays findable by id) and is flagged.
                    update[name] = ""
                    update["needs_review"] = True
                elif value:
                    taken[name].add(value)
        Lead.objects.filter(pk=lead.pk).update(**update)
    # One row at a time: the ledger's trigger allows filling the hash, nothing else.
    for consent in Consent.objects.filter(phone_hash="").exclude(phone="").iterator():
        Consent.objects.filter(pk=consent.pk).update(phone_hash=phone_hash(str(consent.phone)))


def messages_encrypt(apps, schema_editor):
    column_rewrite(
        schema_editor.connection,
        table="intake_submission",
        column="message",
        transform=encrypt_plain,
    )


def messages_decrypt(apps, schema_editor):
    column_rewrite(
        schema_editor.connection,
        table="intake_submission",
        column="message",
        transform=decrypt_token,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0005_lead_hashes_encryption"),
    ]

    operations = [
        migrations.RunPython(hashes_fill, migrations.RunPython.noop),
        migrations.RunPython(messages_encrypt, messages_decrypt),
    ]
