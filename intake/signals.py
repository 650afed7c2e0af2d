"""What intake tells the apps above it. Sent only after the transaction commits.

``submission_received(sender, submission_id: int)``
    A submission and its lead are stored. Receivers must only enqueue work
    (ids, never personal data) and must tolerate being called again for the
    same submission by the sweep.
"""

from __future__ import annotations

from django.dispatch import Signal

submission_received = Signal()

# ``callback_window_requested(sender, submitted_at: datetime, best_time: str, timezone: str)``
#     Asked while a submission is stored: when will the clinic call? The app that
#     owns clinic time answers with ``{"starts_at": datetime, "ends_at": datetime}``.
#     Without an answer, intake promises the speed-to-lead target from now.
callback_window_requested = Signal()
