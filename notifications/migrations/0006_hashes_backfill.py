"""Data: keyed hashes of opt-out numbers and inbound senders; message and inbound
bodies encrypted. Reversing decrypts the bodies (the hash columns go with 0005)."""

from django.db import migrations

from clinic.crypto import column_rewrite, decrypt_token, encrypt_plain, phone_hash

ENCRYPTED = [
    ("notifications_message", "body"),
    ("notifications_message", "body_html"),
    ("notifications_message", "attachment"),
    ("notifications_inboundmessage", "body"),
]


def hashes_fill(apps, schema_editor):
    OptOut = apps.get_model("notifications", "OptOut")
    InboundMessage = apps.get_model("notifications", "InboundMessage")
    seen: set[str] = set()
    for opt_out in OptOut.objects.order_by("created_at", "pk").iterator():
        value = phone_hash(opt_out.phone)
        if value in seen:
            # The same number written two ways: one opt-out is enough.
            OptOut.objects.filter(pk=opt_out.pk).delete()
            continue
        seen.add(value)
        OptOut.objects.filter(pk=opt_out.pk).update(phone_hash=value)
    # values_list: the bodies are not encrypted yet, so the field must not read them.
    senders = InboundMessage.objects.filter(sender_hash="").exclude(sender="")
    for pk, sender in senders.values_list("pk", "sender").iterator():
        InboundMessage.objects.filter(pk=pk).update(sender_hash=phone_hash(sender))


def bodies_encrypt(apps, schema_editor):
    for table, column in ENCRYPTED:
        column_rewrite(
            schema_editor.connection, table=table, column=column, transform=encrypt_plain
        )


def bodies_decrypt(apps, schema_editor):
    for table, column in ENCRYPTED:
        column_rewrite(
            schema_editor.connection, table=table, column=column, transform=decrypt_token
        )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_hashes_encryption"),
    ]

    operations = [
        migrations.RunPython(hashes_fill, migrations.RunPython.noop),
        migrations.RunPython(bodies_encrypt, bodies_decrypt),
    ]
