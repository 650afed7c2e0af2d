"""What erasing a lead's personal data does to scheduling's records."""

from __future__ import annotations

from django.utils import timezone

from notifications import services as notification_services
from scheduling.models import Appointment, CallAttempt, Callback, CrisisDecision, StaffAlert
from scheduling.services.waitlist import waitlist_lead_erase


def lead_work_erase(*, lead_id: int) -> None:
    """A lead's personal data is being erased (intake's ``lead_erased``, inside its
    transaction): call notes are blanked, its live callback is cancelled, active
    consultations are cancelled without telling anyone, the person leaves the waitlist (its notes
    blanked), and the messages about it
    are blanked. Idempotent."""
    now = timezone.now()
    CallAttempt.objects.filter(callback__lead_id=lead_id).exclude(notes="").update(notes="")
    CrisisDecision.objects.filter(callback__lead_id=lead_id).exclude(reason="").update(reason="")
    live = Callback.objects.filter(
        lead_id=lead_id, status__in=[Callback.Status.OPEN, Callback.Status.CLAIMED]
    )
    StaffAlert.objects.filter(callback__in=live, resolved_at__isnull=True).update(resolved_at=now)
    live.update(
        status=Callback.Status.CANCELLED,
        result=Callback.Result.CLOSED,
        closed_at=now,
        claimed_by=None,
        lease_expires_at=None,
    )
    Appointment.objects.filter(lead_id=lead_id, status__in=Appointment.ACTIVE).update(
        status=Appointment.Status.CANCELLED, cancelled_at=now
    )
    waitlist_lead_erase(lead_id=lead_id)
    notification_services.messages_erase(correlation=f"lead:{lead_id}")
