"""The callback queue as coordinators see it: its order, its rows, one callback and the
refusals shown above its details, what a coordinator holds, and the counts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from intake import selectors as intake_selectors
from notifications import selectors as notification_selectors
from notifications.models import Refusal
from scheduling.models import (
    Callback,
)

LIVE = [Callback.Status.OPEN, Callback.Status.CLAIMED]


def callback_queue() -> QuerySet[Callback]:
    """Live callbacks, most urgent first: crisis, then by the first due time."""
    return (
        Callback.objects.filter(status__in=LIVE)
        .select_related("lead", "submission__article", "claimed_by")
        .order_by("-is_urgent", "original_due_at", "pk")
    )


# What a queue row shows (name, how and when they like to be called, the article, who
# holds it, when it is due) and the API's answer for it. Never the phone, email,
# message or the article's body, nor the lead's other columns: a page polled every few
# seconds would fetch, parse and decrypt them for nothing. (The audit trail's read
# record copies the lead's columns in the database, in its one INSERT.)
QUEUE_ROW_FIELDS = (
    "id",
    "lead",
    "submission",
    "status",
    "is_urgent",
    "patient_replied",
    "due_at",
    "original_due_at",
    "retry_at",
    "unanswered_attempts",
    "claimed_by",
    "lease_expires_at",
    "created_at",
    "lead__first_name",
    "lead__preferred_channel",
    "lead__best_time",
    "submission__article",
    "submission__article__slug",
    "submission__article__title",
    "claimed_by__username",
)


def callback_queue_rows() -> QuerySet[Callback]:
    """:func:`callback_queue` with only the columns a queue row shows (the console's
    queue table, claim-next's answer)."""
    return callback_queue().only(*QUEUE_ROW_FIELDS)


def callback_get(*, callback_id: int) -> Callback | None:
    return (
        Callback.objects.select_related("lead", "submission__article", "claimed_by")
        .filter(pk=callback_id)
        .first()
    )


@dataclass(frozen=True)
class RefusalShown:
    """A refusal in force that concerns a callback, and whose detail it refuses."""

    refusal: Refusal
    #: "this person's phone", "the email in request R-...": never the value itself.
    where: str
    #: The lead's own phone or email (a coordinator who reached the person may lift it).
    own: bool


@dataclass(frozen=True)
class CallbackRefusals:
    """Whether a callback is "previously refused": the refusals in force for the lead's
    phone or email or for the details any of its requests gave."""

    shown: list[RefusalShown]
    #: A refusal recorded after the last acknowledgement (or never acknowledged): no
    #: call may be logged until a coordinator acknowledges it.
    pending: bool

    @property
    def liftable(self) -> bool:
        return any(each.own for each in self.shown)


def callback_refusals(*, callback: Callback) -> CallbackRefusals:
    """The refusals that concern ``callback`` (see :class:`CallbackRefusals`), oldest
    first, each with where it applies (two queries)."""
    lead = callback.lead
    where: dict[tuple[str, str], tuple[str, bool]] = {}
    for channel, hashed in (
        (Refusal.Channel.PHONE, lead.phone_hash),
        (Refusal.Channel.EMAIL, lead.email_hash),
    ):
        if hashed:
            where[(channel, hashed)] = (f"this person's {channel}", True)
    for submission in intake_selectors.lead_submissions(lead_id=lead.pk).exclude(is_spam=True):
        for channel, hashed in (
            (Refusal.Channel.PHONE, submission.phone_hash),
            (Refusal.Channel.EMAIL, submission.email_hash),
        ):
            if hashed:
                where.setdefault(
                    (channel, hashed), (f"the {channel} in request {submission.reference}", False)
                )
    refusals = notification_selectors.refusals_live(
        phone_hashes=[hashed for channel, hashed in where if channel == Refusal.Channel.PHONE],
        email_hashes=[hashed for channel, hashed in where if channel == Refusal.Channel.EMAIL],
    )
    acknowledged = callback.refusal_acknowledged_at
    return CallbackRefusals(
        shown=[
            RefusalShown(refusal, *where[(refusal.channel, refusal.value_hash)])
            for refusal in refusals
        ],
        pending=any(
            acknowledged is None or refusal.recorded_at > acknowledged for refusal in refusals
        ),
    )


def callback_live_for_lead(*, lead_id: int) -> Callback | None:
    """The lead's open or claimed callback, if any (one live callback per lead)."""
    return Callback.objects.filter(
        lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    ).first()


def callbacks_held_by(*, user_id: int) -> QuerySet[Callback]:
    return callback_queue().filter(
        claimed_by_id=user_id,
        status=Callback.Status.CLAIMED,
        lease_expires_at__gt=timezone.now(),
    )


# The counts above the queue, in one pass over the live queue's partial indexes.
# Written out: the console polls them every few seconds, and building the five
# filtered aggregates through the ORM cost more than running them.
_COUNTS_SQL = """SELECT
    count(*) FILTER (WHERE status = 'open'),
    count(*) FILTER (WHERE status = 'claimed'),
    count(*) FILTER (WHERE due_at < %s),
    count(*) FILTER (WHERE is_urgent),
    count(*) FILTER (WHERE patient_replied)
FROM scheduling_callback
WHERE status IN ('open', 'claimed')"""
COUNT_NAMES = ("open", "claimed", "overdue", "urgent", "replied")


def callback_queue_counts() -> dict[str, int]:
    """How many live callbacks are open, claimed, overdue, urgent, and replied to."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS_SQL, [connection.ops.adapt_datetimefield_value(timezone.now())])
        return dict(zip(COUNT_NAMES, cursor.fetchone(), strict=True))
