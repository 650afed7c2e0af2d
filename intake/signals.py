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

# ``next_contact_requested(sender, submission: Submission, now: datetime)``
#     Asked when a request's answer is shown (the 201 and the no-JavaScript page): how
#     and when will the clinic be in touch, in the person's words and time zone? The app
#     that owns clinic time answers with ``{"channel": "call"|"text"|"email", "text":
#     str, "time_zone": str}``, from the submission alone. Without an answer, intake
#     says only that a care coordinator will be in touch.
next_contact_requested = Signal()

# ``lead_erased(sender, lead_id: int)``
#     A lead's personal data is being erased (on request, or at the end of the retention
#     period). Unlike the signals above it is sent *inside* the erasing transaction, and
#     receivers must do their part there and then (blank their own free text, close
#     live work): erasure is all or nothing, and a lost task would leave notes behind
#     that no sweep could find. Receivers must be idempotent and quick.
lead_erased = Signal()
