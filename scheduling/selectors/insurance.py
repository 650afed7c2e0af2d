"""The coordinators' "verifications waiting" list, as the console shows it: intake's
list (``intake.insurance_selectors``) with, for each lead, the callback page to open
(its live callback, else its latest). No member IDs or group numbers."""

from __future__ import annotations

from dataclasses import dataclass

from intake import insurance_selectors
from intake.insurance_selectors import VerificationWaiting
from scheduling.models import Callback


@dataclass(frozen=True)
class WaitingRow:
    waiting: VerificationWaiting
    #: The callback whose page holds the insurance form, or None (a lead with no call).
    callback_id: int | None


def verifications_waiting_rows(*, limit: int = 200) -> list[WaitingRow]:
    """The leads whose benefits are still to be verified, the longest waiting first,
    each with the callback to open: its live one if any, else its latest."""
    waiting = insurance_selectors.insurance_verifications_waiting(limit=limit)
    latest: dict[int, int] = {}
    live: dict[int, int] = {}
    rows = (
        Callback.objects.filter(lead_id__in=[row.lead_id for row in waiting])
        .order_by("created_at", "pk")
        .values_list("lead_id", "pk", "status")
    )
    for lead_id, callback_id, status in rows:
        latest[lead_id] = callback_id
        if status in (Callback.Status.OPEN, Callback.Status.CLAIMED):
            live[lead_id] = callback_id
    callbacks = {**latest, **live}
    return [WaitingRow(waiting=row, callback_id=callbacks.get(row.lead_id)) for row in waiting]
