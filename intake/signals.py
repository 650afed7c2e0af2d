"""What intake tells the apps above it. Sent only after the transaction commits.

``submission_received(sender, submission_id: int)``
    A submission and its lead are stored. Receivers must only enqueue work
    (ids, never personal data) and must tolerate being called again for the
    same submission by the sweep.
"""

from __future__ import annotations

from django.dispatch import Signal

submission_received = Signal()

# ``lead_erased(sender, lead_id: int)``
#     A lead's personal data is being erased (on request, or at the end of the retention
#     period). Unlike ``submission_received`` it is sent *inside* the erasing transaction, and
#     receivers must do their part there and then (blank their own free text, close
#     live work): erasure is all or nothing, and a lost task would leave notes behind
#     that no sweep could find. Receivers must be idempotent and quick.
lead_erased = Signal()
