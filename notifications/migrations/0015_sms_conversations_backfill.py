"""Threads for the texts sent and received before conversations existed: one per
number that was texted (not staff) or texted us, with its last times, the lead its
texts named, and as unread the person's own texts after our last one."""

from django.db import migrations

STAFF_PURPOSES = ("staff_alert", "staff_code")
UNREAD_KINDS = ("reply", "opt_out_request")


def _later(current, at):
    return max(current, at) if current else at


def backfill(apps, schema_editor):
    Message = apps.get_model("notifications", "Message")
    InboundMessage = apps.get_model("notifications", "InboundMessage")
    SmsConversation = apps.get_model("notifications", "SmsConversation")
    threads = {}

    def thread(hashed, phone):
        return threads.setdefault(
            hashed,
            {"phone": phone, "lead_id": None, "last_outbound_at": None, "last_inbound_at": None},
        )

    outbound = (
        Message.objects.filter(channel="sms")
        .exclude(purpose__in=STAFF_PURPOSES)
        .exclude(recipient_hash="")
        .order_by("created_at")
        .values_list("recipient_hash", "recipient", "correlation", "created_at")
    )
    for hashed, phone, correlation, at in outbound.iterator():
        row = thread(hashed, phone)
        row["phone"] = phone or row["phone"]
        kind, _, value = correlation.partition(":")
        if kind == "lead" and value.isdigit():
            row["lead_id"] = int(value)
        row["last_outbound_at"] = _later(row["last_outbound_at"], at)
    inbound = (
        InboundMessage.objects.exclude(sender_hash="")
        .order_by("received_at")
        .values_list("sender_hash", "sender", "kind", "received_at")
    )
    unread = {}
    for hashed, phone, kind, at in inbound.iterator():
        row = thread(hashed, phone)
        row["phone"] = row["phone"] or phone
        row["last_inbound_at"] = _later(row["last_inbound_at"], at)
        if kind in UNREAD_KINDS and (
            row["last_outbound_at"] is None or at > row["last_outbound_at"]
        ):
            unread[hashed] = unread.get(hashed, 0) + 1
    existing = set(SmsConversation.objects.values_list("phone_hash", flat=True))
    SmsConversation.objects.bulk_create(
        [
            SmsConversation(
                phone=row["phone"][:20],
                phone_hash=hashed,
                lead_id=row["lead_id"],
                last_outbound_at=row["last_outbound_at"],
                last_inbound_at=row["last_inbound_at"],
                last_message_at=max(
                    at for at in (row["last_outbound_at"], row["last_inbound_at"]) if at
                ),
                unread_count=unread.get(hashed, 0),
            )
            for hashed, row in threads.items()
            if hashed not in existing
        ],
        batch_size=500,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0014_sms_conversations"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
