"""A send and a stop to the same person never cross.

Every message is checked for a refusal or an opt-out just before its provider call
(``delivery.messages_blocked``), but a check and a send are two steps: a STOP
recorded between them would be acknowledged to the person while a text to them was
still on its way. So each send holds a shared advisory lock on its recipient from
before that check until the provider has answered, and recording a stop or a refusal
takes the same lock exclusively, until its transaction commits. A stop therefore
waits for the sends already under way to that number (they were checked before it),
and every send after it sees it: once a STOP is acknowledged, nothing more is sent.

Every lock here lasts until its transaction ends (``pg_advisory_xact_lock*``): none
outlives an error, and none depends on the session, so pgbouncer in transaction mode
keeps working. The key is the recipient's keyed hash, cut to 32 bits; a collision
only makes a stop wait for another number's send. A send never waits for a lock
while it holds another (a batch tries, and puts back what it cannot take), so a
refusal of a phone and an email cannot deadlock with sends. SQLite needs none of
this: it runs one writer at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

# pg_advisory_*(RECIPIENT_LOCK, key of the recipient's hash).
RECIPIENT_LOCK = 0x534E4431  # "SND1"

_TRY_SEND_SQL = (
    "SELECT pg_try_advisory_xact_lock_shared(%s, key) FROM unnest(%s::integer[])"
    " WITH ORDINALITY AS keys(key, position) ORDER BY position"
)
_SEND_SQL = "SELECT pg_advisory_xact_lock_shared(%s, %s)"
_STOP_SQL = "SELECT pg_advisory_xact_lock(%s, %s)"


def _key(hashed: str) -> int:
    """A signed 32-bit key from a recipient's keyed hash (hex)."""
    return int(hashed[:8], 16) - 2**31


def _locking() -> bool:
    return connection.vendor == "postgresql"


def _in_transaction() -> None:
    assert connection.in_atomic_block, "a recipient lock lasts until its transaction ends"


def recipients_stop(*, hashes: list[str]) -> None:
    """Before a stop or a refusal of these recipients is written: wait for the sends
    under way to them, and hold off new ones until the transaction commits. Taken in
    one order, so two stops cannot deadlock."""
    if not _locking():
        return
    _in_transaction()
    with connection.cursor() as cursor:
        for key in sorted({_key(hashed) for hashed in hashes if hashed}):
            cursor.execute(_STOP_SQL, [RECIPIENT_LOCK, key])


def recipients_hold(hashes: list[str]) -> list[bool]:
    """Take a send's lock on each recipient until the transaction ends, without
    waiting: for each, whether it was taken (False only while a stop of it is being
    recorded). An empty hash needs none. Check and send only after this."""
    if not _locking():
        return [True] * len(hashes)
    _in_transaction()
    keyed = [_key(hashed) for hashed in hashes if hashed]
    if not keyed:
        return [True] * len(hashes)
    with connection.cursor() as cursor:
        cursor.execute(_TRY_SEND_SQL, [RECIPIENT_LOCK, keyed])
        taken = iter([row[0] for row in cursor.fetchall()])
    return [next(taken) if hashed else True for hashed in hashes]


@contextmanager
def recipient_sending(hashed: str) -> Iterator[None]:
    """A transaction for the block holding a send's lock on one recipient, taken after
    a stop of it being recorded commits (one send holds no other lock while it waits).
    Check and send inside it; record the result after it."""
    with transaction.atomic():
        if hashed and _locking():
            with connection.cursor() as cursor:
                cursor.execute(_SEND_SQL, [RECIPIENT_LOCK, _key(hashed)])
        yield
