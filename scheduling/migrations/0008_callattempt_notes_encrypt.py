"""Data: call attempt notes encrypted (reversing decrypts them)."""

from django.db import migrations

from clinic.crypto import column_rewrite, decrypt_token, encrypt_plain


def notes_encrypt(apps, schema_editor):
    column_rewrite(
        schema_editor.connection,
        table="scheduling_callattempt",
        column="notes",
        transform=encrypt_plain,
    )


def notes_decrypt(apps, schema_editor):
    column_rewrite(
        schema_editor.connection,
        table="scheduling_callattempt",
        column="notes",
        transform=decrypt_token,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0007_callattempt_notes_encrypted"),
    ]

    operations = [migrations.RunPython(notes_encrypt, notes_decrypt)]
