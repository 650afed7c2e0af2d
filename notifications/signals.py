"""What notifications tells the apps above it. Receivers enqueue work; they
never decide inside the sender's transaction.

``message_failed(sender, message_id: int, correlation: str, error_code: str)``
    A message will not be delivered (permanent error or retries exhausted).
    ``correlation`` is the value the caller gave :func:`message_send`.
"""

from __future__ import annotations

from django.dispatch import Signal

message_failed = Signal()
