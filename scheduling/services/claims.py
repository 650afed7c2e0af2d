"""Claim-next on PostgreSQL as one round trip: the claim, its lease, the alerts it
settles and the coordinator's one-claim rule, in one statement.

``callback_claim_next`` (scheduling.services.queue) uses it on PostgreSQL and
keeps the ORM version for SQLite, the development default. Both hand out callbacks
in the same order (see ``QUEUE_ORDER``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from scheduling.models import Callback, StaffAlert

# (attname, column) of each field, in the order Model.from_db wants the values.
_FIELDS = [(field.attname, field.column) for field in Callback._meta.concrete_fields]

# The queue's order for claiming: urgent (crisis), then overdue (of the hundred most
# overdue, through the due-time index), then those whose person replied, then the
# rest; within each tier by first due time, so a retried callback keeps its place.
QUEUE_ORDER = ("urgent", "overdue", "replied", "rest")

# pg_advisory_xact_lock(CLAIM_LOCK, user id): one claim-next at a time per coordinator,
# held to the end of the transaction. Without it two tabs of the same coordinator
# (each with a snapshot that has no claim of theirs yet) could both claim.
CLAIM_LOCK = 0x43424B31  # "CBK1"

# One statement after the lock. Ready: open, or claimed with a lapsed lease; and not
# waiting for a retry time. (Written so, it implies the partial indexes' "live" and is
# estimated from them; a separate status IN (...) makes the planner count that
# selectivity twice and scan the whole live queue for the overdue tier.) Each tier is
# the first ready callback of its kind nobody else is locking, and runs only when the
# coordinator holds nothing and every tier before it came back empty (a one-time
# filter in the plan), so at most one row is ever locked. The second statement's
# snapshot is taken after the lock: a claim this coordinator made in another
# transaction has committed by then, and is "held". The leading comment matters:
# pghistory puts the audit context (who, which request) in front of every statement
# that does not start with SELECT, and this one writes.
CLAIM_LOCK_SQL = "SELECT pg_advisory_xact_lock(%(lock)s, %(user)s)"
_CLAIM_TEMPLATE = """WITH
held AS (
    SELECT id FROM scheduling_callback
    WHERE status = 'claimed' AND claimed_by_id = %(user)s AND lease_expires_at > %(now)s
    ORDER BY claimed_at, id
    LIMIT 1
),
renewed AS (
    UPDATE scheduling_callback SET lease_expires_at = %(until)s
    WHERE id = (SELECT id FROM held) AND status = 'claimed' AND claimed_by_id = %(user)s
    RETURNING scheduling_callback.*, false AS fresh
),
{tiers}claimed AS (
    UPDATE scheduling_callback
    SET status = 'claimed', claimed_by_id = %(user)s, claimed_at = %(now)s,
        lease_expires_at = %(until)s
    WHERE id = (
        SELECT id FROM urgent UNION ALL SELECT id FROM overdue
        UNION ALL SELECT id FROM replied UNION ALL SELECT id FROM rest
        LIMIT 1
    )
    RETURNING scheduling_callback.*, true AS fresh
),
settled AS (
    UPDATE scheduling_staffalert SET resolved_at = %(now)s
    WHERE callback_id = (SELECT id FROM claimed) AND resolved_at IS NULL
        AND kind <> ALL(%(kept)s)
)
SELECT * FROM renewed UNION ALL SELECT * FROM claimed"""

# Ready: open, or claimed with a lapsed lease; and not waiting for a retry time.
_READY = """(status = 'open' OR (status = 'claimed' AND lease_expires_at <= %(now)s))
        AND (retry_at IS NULL OR retry_at <= %(now)s)"""
# What puts a ready callback in each tier (QUEUE_ORDER); overdue is the hundred most
# overdue, found through the due-time index.
_TIER_FILTERS = {
    "urgent": "is_urgent",
    "overdue": """id IN (
            SELECT id FROM scheduling_callback
            WHERE (status = 'open' OR (status = 'claimed' AND lease_expires_at <= %(now)s))
                AND (retry_at IS NULL OR retry_at <= %(now)s)
                AND due_at < %(now)s
            ORDER BY due_at
            LIMIT 100
        )""",
    "replied": "patient_replied",
    "rest": "true",
}


def _tier_sql(name: str, earlier: tuple[str, ...]) -> str:
    """The first ready callback of tier ``name`` nobody else is locking, looked for only
    when the coordinator holds nothing and every ``earlier`` tier came back empty."""
    # Built once at import from the constants here; every value is a parameter.
    empty = "".join(
        f"\n        AND NOT EXISTS (SELECT 1 FROM {tier})"  # noqa: S608
        for tier in ("held", *earlier)
    )
    return f"""{name} AS (
    SELECT id FROM scheduling_callback
    WHERE {_READY}
        AND {_TIER_FILTERS[name]}{empty}
    ORDER BY original_due_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
),
"""  # noqa: S608


CLAIM_SQL = _CLAIM_TEMPLATE.replace(
    "{tiers}",
    "".join(_tier_sql(name, QUEUE_ORDER[:index]) for index, name in enumerate(QUEUE_ORDER)),
)
CLAIM_NEXT_SQL = f"/* callback claim-next */\n{CLAIM_LOCK_SQL};\n{CLAIM_SQL}"
# The alert kinds a claim leaves open: urgent (crisis) ones stay until the person is
# reached or a supervisor decides (alerts.alerts_settle). The ``kept`` parameter.
KEPT = [str(kind) for kind in StaffAlert.KEPT_UNTIL_SETTLED]


@dataclass(frozen=True)
class Claimed:
    callback: Callback
    # True: newly claimed; False: the claim the coordinator already held, renewed.
    fresh: bool


def claim_next(*, user_id: int, now: datetime, until: datetime) -> Claimed | None:
    """Run ``CLAIM_NEXT_SQL`` (inside the caller's transaction, which holds the
    coordinator's lock until it ends): the callback as it is now claimed, or None
    when nothing is ready."""
    params = {"lock": CLAIM_LOCK, "user": user_id, "now": now, "until": until, "kept": KEPT}
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_NEXT_SQL, params)
        # Two statements, two results: the claim's is the last.
        while cursor.nextset():
            pass
        row = cursor.fetchone()
        columns = [column.name for column in cursor.description]
    if row is None:
        return None
    values = dict(zip(columns, row, strict=True))
    callback = Callback.from_db(
        connection.alias,
        [attname for attname, _column in _FIELDS],
        [values[column] for _attname, column in _FIELDS],
    )
    return Claimed(callback=callback, fresh=values["fresh"])
