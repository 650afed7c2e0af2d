"""Delivering due messages in batches: claimed together, sent concurrently.

Provider calls are I/O, so a batch sends its texts from a pool of threads (one
keep-alive Twilio session per thread, ``notifications.backends.sms_backend``) and its
emails one after another over one mail server connection, while the database work
(claiming, the send locks with the refusal and opt-out checks under them, recording
each result) stays on the calling thread: the threads never touch the database.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.db import connections, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from notifications import selectors
from notifications.backends import TransportError
from notifications.metrics import MESSAGES
from notifications.models import Message
from notifications.pacer import LEVELS, PRIORITY, message_priority, sms_pacer
from notifications.services.delivery import (
    Attempt,
    attempt_record,
    attempt_send,
    deliver_later,
    email_message,
    messages_blocked,
)
from notifications.services.messages import UNSENT
from notifications.services.recipient_locks import recipients_hold
from notifications.services.retries import TransientDeliveryError
from notifications.signals import message_sent

logger = logging.getLogger(__name__)

# A message whose recipient's stop is being recorded as the batch checks it is put
# back for this long (not counted as a try); its next check sees the stop.
STOP_PENDING_WAIT_SECONDS = 1.0

# Errors after which the mail server connection is still good for the next email
# (smtplib resets the transaction): the others open a new connection.
_SMTP_MESSAGE_ERRORS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
)


class MailBatch:
    """Emails sent one after another over one mail server connection, each with its
    own result: one refused address fails only its own email. A connection that
    broke is replaced for the next email."""

    def __init__(self) -> None:
        self.connection: Any = None
        self.opened = 0

    def send(self, message: Message) -> str:
        if self.connection is None:
            self.connection = get_connection(fail_silently=False)
            self.opened += 1
        email = email_message(message, connection=self.connection)
        try:
            self.connection.open()
            email.send(fail_silently=False)
        except OSError as error:  # SMTP errors are OSErrors
            if not isinstance(error, _SMTP_MESSAGE_ERRORS):
                self.close()
            raise TransportError(
                f"Mail server error: {type(error).__name__}", code="smtp", permanent=False
            ) from error
        return str(email.extra_headers["Message-ID"])

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
            self.connection = None


def _priority_order() -> Case:
    return Case(
        *(When(purpose=purpose, then=Value(level)) for purpose, level in PRIORITY.items()),
        default=Value(LEVELS - 1),
        output_field=IntegerField(),
    )


def _tokens_for(texts: list[Message], *, now: datetime) -> dict[int, datetime]:
    """Take a token from the pacer for each of ``texts``, a priority at a time,
    confirmations first; for each text that got none, when to come back."""
    later: dict[int, datetime] = {}
    pacer = sms_pacer()
    for level in range(LEVELS):
        waiting = [text for text in texts if message_priority(text.purpose) == level]
        grant = pacer.take(priority=level, count=len(waiting))
        for index, text in enumerate(waiting[grant.granted :]):
            later[text.pk] = now + timedelta(seconds=grant.retry_in + index * grant.spacing)
    return later


def _claim_due(*, limit: int, older_than: datetime) -> tuple[list[Message], int]:
    """Claim up to ``limit`` due messages (``FOR UPDATE SKIP LOCKED``: concurrent
    claimers take different ones, and a single claim waits for this one, then finds
    them taken), confirmations first. A text the pacer has no token for is put back
    to its slot (``next_attempt_at``) instead of being claimed. Returns the claimed
    messages and how many were put back."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            selectors.messages_due(older_than=older_than, now=now)
            .select_for_update(skip_locked=True)
            .annotate(priority=_priority_order())
            .order_by("priority", "created_at", "pk")[:limit]
        )
        # A text past its budget needs no token: it is failed (or found sent).
        texts = [
            message
            for message in due
            if message.channel == Message.Channel.SMS
            and not (message.give_up_at and message.give_up_at <= now)
        ]
        later = _tokens_for(texts, now=now)
        claimed = [message.pk for message in due if message.pk not in later]
        Message.objects.filter(pk__in=claimed, status__in=UNSENT).update(
            status=Message.Status.SENDING, sending_at=now, attempts=F("attempts") + 1
        )
        if later:
            Message.objects.filter(pk__in=list(later), status__in=UNSENT).update(
                status=Message.Status.SCHEDULED,
                next_attempt_at=Case(*(When(pk=pk, then=Value(at)) for pk, at in later.items())),
            )
            for message_id, at in later.items():
                deliver_later(message_id=message_id, at=at)
        messages = list(
            Message.objects.filter(pk__in=claimed, status=Message.Status.SENDING).order_by(
                "created_at", "pk"
            )
        )
    return messages, len(later)


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def delivery_pool() -> ThreadPoolExecutor:
    """The process's delivery threads (``MESSAGE_DELIVERY_THREADS``), kept from batch
    to batch so that each keeps its Twilio connection alive; made on first use (in a
    worker process, never in the parent it forks from)."""
    global _pool, _pool_size
    size = max(1, settings.MESSAGE_DELIVERY_THREADS)
    with _pool_lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="deliver")
            _pool_size = size
        return _pool


def _record_sent(messages: list[Message], attempts: dict[int, Attempt]) -> set[int]:
    """Record the batch's sent messages in two statements (instead of one update and
    one read each); the ids recorded, each still ``sending`` under this claim."""
    sent = {m.pk: attempts[m.pk].provider_id for m in messages if attempts[m.pk].provider_id}
    if not sent:
        return set()
    now = timezone.now()
    with transaction.atomic():
        mine = set(
            Message.objects.select_for_update()
            .filter(pk__in=list(sent), status=Message.Status.SENDING)
            .values_list("pk", flat=True)
        )
        Message.objects.filter(pk__in=mine).update(
            status=Message.Status.SENT,
            sent_at=now,
            provider_id=Case(*(When(pk=pk, then=Value(sent[pk])) for pk in mine)),
        )
    if mine:
        MESSAGES.labels(Message.Channel.SMS, Message.Status.SENT).inc(
            sum(1 for m in messages if m.pk in mine and m.channel == Message.Channel.SMS)
        )
        MESSAGES.labels(Message.Channel.EMAIL, Message.Status.SENT).inc(
            sum(1 for m in messages if m.pk in mine and m.channel == Message.Channel.EMAIL)
        )
    for message in messages:
        if message.pk in mine:
            told = {
                "message_id": message.pk,
                "channel": message.channel,
                "purpose": message.purpose,
                "correlation": message.correlation,
            }
            transaction.on_commit(
                lambda told=told: message_sent.send_robust(sender=Message, **told), robust=True
            )
    return set(sent)


def _in_thread(work: Any, *args: Any) -> Any:
    """Run ``work`` in a pool thread; the thread leaves no database connection open
    (the work does not use one; this holds if that ever changes)."""
    try:
        return work(*args)
    finally:
        connections.close_all()


def _send_emails(emails: list[Message], blocked: dict[int, Any], now: datetime) -> list[Attempt]:
    batch = MailBatch()
    try:
        return [
            attempt_send(message, now=now, blocked=blocked[message.pk], send_email=batch.send)
            for message in emails
        ]
    finally:
        batch.close()


def _send_text(text: Message, blocked: TransportError | None, now: datetime) -> list[Attempt]:
    # Its token was taken when it was claimed.
    return [attempt_send(text, now=now, blocked=blocked, pace=lambda _text: 0.0)]


def _checked_now(
    messages: list[Message], attempts: dict[int, Attempt]
) -> tuple[list[Message], dict[int, TransportError | None]]:
    """In the caller's transaction, take the send locks of ``messages``
    (``recipient_locks``) and, under them, read which are refused or opted out: the
    messages held, each with its block. One whose recipient's stop is being recorded
    right now is put back for a moment instead (``attempts``); its next try sees it."""
    hashes = {
        message.pk: selectors.recipient_hash(channel=message.channel, recipient=message.recipient)
        for message in messages
    }
    taken = recipients_hold([hashes[message.pk] for message in messages])
    held = [message for message, ok in zip(messages, taken, strict=True) if ok]
    for message, ok in zip(messages, taken, strict=True):
        if not ok:
            attempts[message.pk] = Attempt(deferred=STOP_PENDING_WAIT_SECONDS)
    return held, messages_blocked(held, hashes=hashes) if held else {}


def _send_wave(
    texts: list[Message], emails: list[Message], now: datetime, attempts: dict[int, Attempt]
) -> None:
    """Check and send ``texts`` (a thread each) and ``emails`` (one after another over
    one mail server connection, on a thread of their own) in one transaction that
    holds their recipients' send locks until every one of them has answered."""
    pool = delivery_pool()
    with transaction.atomic():
        held, blocked = _checked_now(texts + emails, attempts)
        held_emails = [message for message in held if message.channel != Message.Channel.SMS]
        jobs = {
            pool.submit(_in_thread, _send_text, text, blocked[text.pk], now): [text]
            for text in held
            if text.channel == Message.Channel.SMS
        }
        if held_emails:
            jobs[pool.submit(_in_thread, _send_emails, held_emails, blocked, now)] = held_emails
        # Every send answers before the locks go, even if one of them failed.
        wait(list(jobs))
        for job, sent in jobs.items():
            for message, attempt in zip(sent, job.result(), strict=True):
                attempts[message.pk] = attempt


def _send_all(texts: list[Message], emails: list[Message], now: datetime) -> dict[int, Attempt]:
    """Send the claimed ``texts`` and ``emails``, each checked for a refusal or an
    opt-out just before it goes and sent under its recipient's lock, so that a stop
    acknowledged while the batch runs stops whatever had not gone yet, and waits at
    most for one wave: the texts a thread's worth at a time (``MESSAGE_DELIVERY_THREADS``),
    the emails beside the first. Nothing is recorded until the locks are given back
    (recording an opt-out takes locks of its own)."""
    attempts: dict[int, Attempt] = {}
    wave = max(1, settings.MESSAGE_DELIVERY_THREADS)
    _send_wave(texts[:wave], emails, now, attempts)
    for start in range(wave, len(texts), wave):
        _send_wave(texts[start : start + wave], [], now, attempts)
    return attempts


def messages_deliver_due(*, limit: int, older_than: datetime | None = None) -> int:
    """Claim up to ``limit`` due messages (:func:`notifications.selectors.messages_due`)
    and send them: the texts concurrently (``MESSAGE_DELIVERY_THREADS`` threads), the
    emails over one mail server connection. Every message keeps the guarantees of
    ``message_deliver``: claimed before any provider call (at most once, whoever else
    claims), a refusal or opt-out honoured up to the moment it is sent, a timed-out
    text looked up at the provider before it is sent again, each result recorded on
    its own (a failure retried or failed by the same rules, a soon retry queued as a
    task). Returns how many messages it handled: claimed, or put back to wait for an
    SMS token."""
    older_than = older_than or timezone.now() - settings.MESSAGE_STUCK_AFTER
    messages, put_back = _claim_due(limit=limit, older_than=older_than)
    if not messages:
        return put_back
    texts = [message for message in messages if message.channel == Message.Channel.SMS]
    emails = [message for message in messages if message.channel != Message.Channel.SMS]
    attempts = _send_all(texts, emails, timezone.now())
    recorded = _record_sent(messages, attempts)
    for message in messages:
        if message.pk in recorded:
            continue
        try:
            attempt_record(message, attempts[message.pk])
        except TransientDeliveryError:
            message.refresh_from_db(fields=["next_attempt_at"])
            if message.next_attempt_at is not None:
                deliver_later(message_id=message.pk, at=message.next_attempt_at)
    return len(messages) + put_back
