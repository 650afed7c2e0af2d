"""A consultation's stage changes (booked, attended, admitted) are queued for the
outbound webhooks with the appointment's id (``intake.services.webhooks``); sending
them is tested in tests/intake/test_webhooks.py."""

from __future__ import annotations

import pytest
import time_machine

from intake.models import Lead, WebhookDelivery
from intake.services import lead_details_verify
from scheduling import services
from tests.factories import submit_lead
from tests.scheduling.conftest import ny

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    """Monday morning in New York (tests/scheduling/conftest.py); one endpoint, whose
    deliveries stay queued (the test's transaction never commits)."""
    settings.WEBHOOK_ENDPOINTS = [{"url": "https://emr.example/hooks", "covered": False}]
    settings.WEBHOOK_SECRET = "w" * 40


def test_booked_attended_and_admitted_are_queued_with_the_appointment(clinician, route):
    callback = route(submit_lead(first_name="Maria"))
    lead_details_verify(
        lead_id=callback.lead_id, phone=True, email=True, by=Lead.Verification.COORDINATOR
    )

    appointment = services.appointment_book(
        lead_id=callback.lead_id, clinician_id=clinician.pk, starts_at=ny(30, 9), booked_by_id=None
    )
    with time_machine.travel(ny(30, 10), tick=False):
        services.appointment_mark(appointment_id=appointment.pk, attended=True)
        services.appointment_admit(appointment_id=appointment.pk)

    queued = list(
        WebhookDelivery.objects.filter(lead_id=callback.lead_id)
        .order_by("pk")
        .values_list("stage", "appointment_id", "status")
    )
    assert queued == [
        ("contacted", None, "pending"),
        ("consult_booked", appointment.pk, "pending"),
        ("consult_attended", appointment.pk, "pending"),
        ("admitted", appointment.pk, "pending"),
    ]
    assert len(set(WebhookDelivery.objects.values_list("event_id", flat=True))) == 4
