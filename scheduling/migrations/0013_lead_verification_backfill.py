"""Leads stored before verification existed start unverified, except for what the
clinic's own records prove: the person answered a call to the lead's number (an
attempt logged as reached, booked or call back later: the console dials the lead's
number; a number changed since was changed by a coordinator who confirmed it with the
person), or texted the clinic from it (an inbound reply). Emails and names stay
unverified: only a coordinator confirms them, and no record says one did. The data
lives here, not in intake, because the proof is scheduling's (attempts) and
notifications' (replies)."""

from django.db import migrations
from django.db.models import Exists, OuterRef, Subquery

PHONE_PROVING_OUTCOMES = ["reached", "booked", "call_back_later"]


def phones_proven(apps, schema_editor):
    Lead = apps.get_model("intake", "Lead")
    CallAttempt = apps.get_model("scheduling", "CallAttempt")
    InboundMessage = apps.get_model("notifications", "InboundMessage")
    unverified = Lead.objects.filter(phone_verified_at__isnull=True).exclude(phone="")
    calls = CallAttempt.objects.filter(
        callback__lead_id=OuterRef("pk"), outcome__in=PHONE_PROVING_OUTCOMES
    ).order_by("created_at")
    unverified.filter(Exists(calls)).update(
        phone_verified_at=Subquery(calls.values("created_at")[:1]), phone_verified_by="call"
    )
    replies = (
        InboundMessage.objects.filter(sender_hash=OuterRef("phone_hash"), kind="reply")
        .exclude(sender_hash="")
        .order_by("received_at")
    )
    unverified.exclude(phone_hash="").filter(Exists(replies)).update(
        phone_verified_at=Subquery(replies.values("received_at")[:1]),
        phone_verified_by="sms_reply",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0012_lead_verification"),
        ("notifications", "0009_message_retry_budget"),
        ("scheduling", "0012_callback_refusal_acknowledgement"),
    ]

    operations = [migrations.RunPython(phones_proven, migrations.RunPython.noop)]
