"""Staff alerts: raised once per callback and kind, emailed with the reason, the time
and a link but no personal data, acknowledged by a supervisor, and settled when the
work is done. Also the notice a coordinator gets when a supervisor gives them a
callback.

Settling: claiming a callback settles its ordinary alerts (someone is on it), but an
urgent one and a crisis awaiting a supervisor's decision (``StaffAlert.KEPT_UNTIL_
SETTLED``) stay open through claims, reassignments and unanswered calls, until the
person is reached, the callback is closed, or a supervisor decides.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from clinic import business_time, roles
from clinic.errors import ApplicationError
from intake import selectors as intake_selectors
from notifications import services as notification_services
from scheduling.models import Callback, StaffAlert
from scheduling.selectors import alert_reason


def _link(alert: StaffAlert) -> str:
    """Supervisors act on the board; everyone else on the callback page."""
    if alert.audience == StaffAlert.Audience.SUPERVISOR:
        path = f"{reverse('scheduling:console-board')}#alert-{alert.pk}"
    else:
        path = reverse("scheduling:console-callback", args=[alert.callback_id])
    return f"{settings.PUBLIC_BASE_URL}{path}"


def _email(alert: StaffAlert, *, recipients: list[str], key: str) -> None:
    callback = alert.callback
    now = timezone.now()
    crisis = callback.is_urgent and intake_selectors.lead_in_crisis(lead_id=callback.lead_id)
    raised = timezone.localtime(alert.created_at, business_time.clinic_zone())
    waited = timesince(callback.original_due_at, now) if callback.original_due_at < now else ""
    details = [f"Raised at {raised:%H:%M} clinic time ({raised:%a %d %b})."]
    if waited:
        details.append(f"The person has waited {waited} since the call was due.")
    if alert.kind == StaffAlert.Kind.CRISIS_DECISION and callback.retry_at:
        retry = timezone.localtime(callback.retry_at, business_time.clinic_zone())
        details.append(
            f"It stays urgent and is tried again at {retry:%H:%M} unless you decide sooner."
        )
    details.append("No personal details are in this email: open the link to act.")
    notification_services.staff_alert(
        title=f"{alert_reason(alert, crisis=crisis)} (callback {callback.pk})",
        text=" ".join(details).replace("\xa0", " "),
        link=_link(alert),
        recipients=recipients,
        dedupe_key=key,
    )


def audience_emails(audience: str) -> list[str]:
    groups = (
        [roles.SUPERVISOR] if audience == StaffAlert.Audience.SUPERVISOR else [roles.COORDINATOR]
    )
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=groups)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )


def alert_raise(callback: Callback, *, kind: str, audience: str, again: bool = False) -> bool:
    """Record an alert for the console and email it to its audience, once per callback,
    kind and audience. With ``again``, an alert that was settled is raised anew (new
    time, not acknowledged) and emailed again. Returns whether it was raised now."""
    alert, created = StaffAlert.objects.get_or_create(
        callback=callback, kind=kind, audience=audience
    )
    if not created:
        if not again or alert.resolved_at is None:
            return False
        alert.created_at = timezone.now()
        alert.resolved_at = alert.acknowledged_at = alert.acknowledged_by = None
        alert.save(
            update_fields=["created_at", "resolved_at", "acknowledged_at", "acknowledged_by"]
        )
    alert.callback = callback  # as the caller has it now (tries, next try)
    key = f"alert:{kind}:{audience}:{callback.pk}"
    if not created:
        key += f":{alert.created_at:%Y%m%d%H%M%S}"
    _email(alert, recipients=audience_emails(audience), key=key)
    return True


def alerts_settle(*, callback_id: int, now: datetime, kept_too: bool = False) -> list[int]:
    """Settle the callback's open alerts: the ordinary ones (someone took it), or with
    ``kept_too`` every one (the person was reached, the callback closed, or a supervisor
    decided). Returns the ids settled (an undone closing outcome opens them again)."""
    alerts = StaffAlert.objects.filter(callback_id=callback_id, resolved_at__isnull=True)
    if not kept_too:
        alerts = alerts.exclude(kind__in=StaffAlert.KEPT_UNTIL_SETTLED)
    settled = list(alerts.values_list("pk", flat=True))
    StaffAlert.objects.filter(pk__in=settled).update(resolved_at=now)
    return settled


def staff_alert_acknowledge(*, alert_id: int, user_id: int) -> StaffAlert:
    """A supervisor has seen the alert. An ordinary alert is then settled; an urgent or
    crisis one only records who saw it and when, and stays open until the person is
    reached or a supervisor decides."""
    now = timezone.now()
    with transaction.atomic():
        alert = (
            StaffAlert.objects.select_for_update()
            .select_related("callback")
            .filter(pk=alert_id)
            .exclude(audience=StaffAlert.Audience.COORDINATOR)
            .first()
        )
        if alert is None:
            raise ApplicationError("No such alert.", code="not_found", status_code=404)
        if alert.resolved_at is not None:
            raise ApplicationError(
                "This alert was already settled.", code="alert_settled", status_code=409
            )
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
            alert.acknowledged_by_id = user_id
        if alert.kind not in StaffAlert.KEPT_UNTIL_SETTLED:
            alert.resolved_at = now
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "resolved_at"])
    return alert


def callback_assigned_notify(callback: Callback, *, to_user_id: int) -> StaffAlert:
    """Tell the coordinator a supervisor gave them ``callback``: a banner in their
    console until they open it, and an email where they have an address (the reason
    and a link, no personal data). One notice per callback, for its latest assignee."""
    now = timezone.now()
    notice, _created = StaffAlert.objects.update_or_create(
        callback=callback,
        kind=StaffAlert.Kind.ASSIGNED,
        audience=StaffAlert.Audience.COORDINATOR,
        defaults={
            "recipient_id": to_user_id,
            "created_at": now,
            "resolved_at": None,
            "acknowledged_at": None,
            "acknowledged_by": None,
        },
    )
    email = (
        get_user_model()
        .objects.filter(pk=to_user_id, is_active=True)
        .values_list("email", flat=True)
    ).first()
    if email:
        notice.callback = callback
        key = f"assigned:{callback.pk}:{to_user_id}:{now.timestamp():.6f}"
        _email(notice, recipients=[email], key=key)
    return notice


def staff_notices_seen(*, user_id: int, callback_id: int) -> int:
    """The coordinator opened the callback they were given: its notice is settled."""
    return StaffAlert.objects.filter(
        callback_id=callback_id,
        audience=StaffAlert.Audience.COORDINATOR,
        recipient_id=user_id,
        resolved_at__isnull=True,
    ).update(resolved_at=timezone.now(), acknowledged_at=timezone.now())
