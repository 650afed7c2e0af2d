"""When a message that failed is tried again, and when it is given up: backoff with
jitter under the provider's ``Retry-After``, and each purpose's retry budget."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings

from notifications.models import Message


class TransientDeliveryError(Exception):
    """Sending failed in a way a retry may fix; the message is rescheduled for
    ``retry_in`` seconds from now (its ``next_attempt_at``)."""

    def __init__(self, message: str, *, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


def retry_jitter(ceiling: float) -> float:
    """A random delay in [ceiling / 2, ceiling]: retries from many workers spread out."""
    return ceiling / 2 + random.random() * ceiling / 2


def retry_delay(*, attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed try: about 2, 4, 8... seconds
    with jitter, capped at ``MESSAGE_RETRY_MAX_DELAY_SECONDS``, and never sooner than
    the provider's ``Retry-After`` (plus up to a tenth more, so that the messages it
    refused together do not all come back in the same second)."""
    cap = settings.MESSAGE_RETRY_MAX_DELAY_SECONDS
    delay = retry_jitter(min(cap, 2.0 ** max(1, attempts)))
    if retry_after:
        delay = max(delay, retry_after * (1 + random.random() * 0.1))
    return delay


def retry_give_up_at(*, purpose: str, start: datetime) -> datetime:
    """The end of the retry budget of a message of ``purpose`` first due at ``start``:
    a day for a confirmation (``MESSAGE_RETRY_BUDGET_MINUTES``), less for a
    reminder, whose moment passes (``MESSAGE_RETRY_REMINDER_BUDGET_MINUTES``)."""
    minutes = (
        settings.MESSAGE_RETRY_REMINDER_BUDGET_MINUTES
        if purpose == Message.Purpose.REMINDER
        else settings.MESSAGE_RETRY_BUDGET_MINUTES
    )
    return start + timedelta(minutes=minutes)


# Failures after which the provider may have taken the message all the same.
AMBIGUOUS_ERRORS = frozenset({"network"})
