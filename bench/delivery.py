"""Benchmark of batch delivery: `.venv/bin/python bench/delivery.py`.

Due messages delivered by ``notifications.services.messages_deliver_due`` (what the
outbox sweep runs), in this process with production settings, on a fresh
PostgreSQL database of its own (``clinic_bench_delivery``, only the notifications
tables migrated):

- **SMS**: ``--texts`` texts through the real ``twilio`` client to a local fake
  Twilio (tests/notifications/local_servers.py) that answers each request after
  ``--latency`` (50 ms, about Twilio's), keeping connections alive as Twilio does;
  sequential (one delivery thread) against pooled (``--threads``). The SMS pacer
  is set far above the rate, so the provider's latency is the limit.
- **Email**: ``--emails`` emails to a local SMTP server (the same module): one
  batch over one connection, against one message at a time as ``message_deliver``
  sends it (a connection each).

Prints messages per second of each, the speed-ups and the connections opened.
Targets: the pooled SMS at least 4x the sequential, the SMTP batch at least as fast
as a connection per email.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import HOST, PG, check_services, free_port, manage, psql, server_env
from bench.results import quick_mode, result
from tests.notifications.local_servers import KeepAliveFakeTwilio, LocalSmtpServer

DATABASE = "clinic_bench_delivery"
SMS_SPEED_UP_TARGET = 4.0


def make_messages(channel: str, count: int, offset: int) -> list[int]:
    from notifications.models import Message

    made = Message.objects.bulk_create(
        Message(
            channel=channel,
            purpose=Message.Purpose.CONFIRMATION,
            recipient=f"+1202{5550000 + offset + n:07d}"
            if channel == "sms"
            else f"reader{offset + n}@example.org",
            subject="We received your request" if channel == "email" else "",
            body="We received your request. A care coordinator will call you soon. "
            "Reply STOP to opt out.",
        )
        for n in range(count)
    )
    return [message.pk for message in made]


def deliver_all(ids: list[int]) -> float:
    """Seconds to deliver these due messages in batches, as the sweep does."""
    from django.conf import settings
    from django.utils import timezone

    from notifications import services
    from notifications.models import Message

    started = time.perf_counter()
    older_than = timezone.now() + timedelta(seconds=1)
    while services.messages_deliver_due(
        limit=settings.MESSAGE_DELIVERY_BATCH_SIZE, older_than=older_than
    ):
        pass
    elapsed = time.perf_counter() - started
    sent = Message.objects.filter(pk__in=ids, status=Message.Status.SENT).count()
    if sent != len(ids):
        sys.exit(f"bench: {len(ids) - sent} of {len(ids)} messages were not sent")
    return elapsed


def deliver_one_by_one(ids: list[int]) -> float:
    from notifications import services
    from notifications.models import Message

    started = time.perf_counter()
    for message_id in ids:
        services.message_deliver(message_id=message_id)
    elapsed = time.perf_counter() - started
    sent = Message.objects.filter(pk__in=ids, status=Message.Status.SENT).count()
    if sent != len(ids):
        sys.exit(f"bench: {len(ids) - sent} of {len(ids)} emails were not sent")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16, help="pooled delivery threads")
    parser.add_argument("--latency", type=float, default=0.05, help="fake Twilio, seconds")
    args = parser.parse_args()
    if quick_mode():
        args.texts, args.emails = min(args.texts, 48), min(args.emails, 20)

    check_services()
    twilio = KeepAliveFakeTwilio(latency=args.latency).start()
    smtp = LocalSmtpServer().start()
    env = {
        **server_env(free_port()),
        "DATABASE_URL": f"postgres://{PG['user']}@{HOST}:{PG['port']}/{DATABASE}",
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_API_BASE": twilio.base_url,
        "EMAIL_URL": f"smtp://{HOST}:{smtp.port}",
        "SMS_MAX_PER_SECOND": "100000",
        "MESSAGE_DELIVERY_BATCH_SIZE": "100",
    }
    try:
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        psql(f'CREATE DATABASE "{DATABASE}"')
        manage(env, "migrate", "notifications", "--noinput", "-v", "0")
        os.environ.update(env)
        import django

        django.setup()
        from django.conf import settings
        from django.core.cache import cache

        cache.delete("sms-pacer")

        settings.MESSAGE_DELIVERY_THREADS = 1
        sequential_ids = make_messages("sms", args.texts, 0)
        sequential = deliver_all(sequential_ids)
        sequential_connections = twilio.opened

        settings.MESSAGE_DELIVERY_THREADS = args.threads
        pooled_ids = make_messages("sms", args.texts, args.texts)
        pooled = deliver_all(pooled_ids)
        pooled_connections = twilio.opened - sequential_connections
        taken = len(twilio.messages)

        one_by_one_ids = make_messages("email", args.emails, 0)
        one_by_one = deliver_one_by_one(one_by_one_ids)
        one_by_one_connections = smtp.opened
        batch_ids = make_messages("email", args.emails, args.emails)
        batch = deliver_all(batch_ids)
        batch_connections = smtp.opened - one_by_one_connections
    finally:
        twilio.stop()
        smtp.stop()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')

    sms_sequential = args.texts / sequential
    sms_pooled = args.texts / pooled
    speed_up = sms_pooled / sms_sequential
    email_one_by_one = args.emails / one_by_one
    email_batch = args.emails / batch
    email_speed_up = email_batch / email_one_by_one
    print(
        f"{args.texts} texts each way to a fake Twilio answering after "
        f"{args.latency * 1000:.0f} ms ({taken} taken); {args.emails} emails each way to a "
        f"local SMTP server; {os.cpu_count()} cores shared with PostgreSQL and Redis"
    )
    rows = [
        ("SMS sequential (1 thread)", f"{sms_sequential:.1f} msg/s",
         f"{sequential_connections} connections"),
        (f"SMS pooled ({args.threads} threads)", f"{sms_pooled:.1f} msg/s",
         f"{pooled_connections} connections"),
        ("SMS speed-up", f"{speed_up:.1f}x", f"target >= {SMS_SPEED_UP_TARGET:g}x"),
        ("email, a connection each", f"{email_one_by_one:.1f} msg/s",
         f"{one_by_one_connections} connections"),
        ("email, one batch connection", f"{email_batch:.1f} msg/s",
         f"{batch_connections} connections"),
        ("email speed-up", f"{email_speed_up:.1f}x", "target >= 1x"),
    ]  # fmt: skip
    for name, measured, note in rows:
        print(f"{name:<32}{measured:>14}  {note}")
    result(
        figure=f"SMS pooled ({args.threads} threads) vs sequential speed-up",
        measured=speed_up,
        unit="x",
        target=f">= {SMS_SPEED_UP_TARGET:g}",
        met=speed_up >= SMS_SPEED_UP_TARGET,
    )
    result(
        figure="email one SMTP connection per batch vs one per email",
        measured=email_speed_up,
        unit="x",
        target=">= 1",
        met=email_speed_up >= 1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
