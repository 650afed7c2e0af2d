"""The speed-to-lead gauges: time to first conversation over the last 24 h, by
quantile, and the leads still waiting for one."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from intake.models import Lead
from intake.services import lead_conversation_record
from tests.config.test_metrics import metrics_settings, scrape, value  # noqa: F401
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db

NAME = "clinic_time_to_first_conversation_seconds"


def test_no_conversation_yet_is_nan_and_every_queued_lead_is_waiting(route):
    route(submit_lead())
    route(submit_lead())

    samples, _ = scrape()

    assert math.isnan(value(samples, NAME, quantile="0.5"))
    assert math.isnan(value(samples, NAME, quantile="0.9"))
    assert value(samples, "clinic_leads_waiting_for_conversation") == 2


def test_conversations_of_the_last_24_hours_give_the_median_and_p90(route):
    coordinator = UserFactory(username="metrics-coordinator-ines")
    now = timezone.now()
    waits = [60, 120, 180, 240, 300, 600]
    for wait in waits:
        with time_machine.travel(now - timedelta(hours=2), tick=False):
            callback = route(submit_lead())
        lead_conversation_record(
            lead_id=callback.lead_id,
            at=now - timedelta(hours=2) + timedelta(seconds=wait),
            via=Lead.ConversationVia.CALL,
            by_id=coordinator.pk,
        )
    # Spoken to two days ago: not in the last 24 h.
    with time_machine.travel(now - timedelta(days=3), tick=False):
        old = route(submit_lead())
    lead_conversation_record(
        lead_id=old.lead_id, at=now - timedelta(days=2), via="hand_logged", by_id=None
    )
    route(submit_lead())  # still waiting

    samples, text = scrape()

    assert value(samples, NAME, quantile="0.5") == 210
    assert value(samples, NAME, quantile="0.9") == 450  # percentile_cont: 300 + 0.5 * 300
    assert value(samples, "clinic_leads_waiting_for_conversation") == 1
    assert "ines" not in text
