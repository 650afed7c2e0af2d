"""A new callback is due when the answer to its request promised (the window stored on
the submission, from clinic time when it was made): the worker does not work it out
again. A known person keeps their own best time and zone: an anonymous form cannot
move when they are called."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from clinic import business_time
from clinic.models import OpeningHours
from scheduling.models import Callback
from tests.factories import submit_lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clinic_in_new_york")]

NY = ZoneInfo("America/New_York")
SUNDAY_AFTERNOON = datetime(2026, 12, 6, 14, 0, tzinfo=NY)
THURSDAY_MORNING = datetime(2026, 12, 3, 10, 0, tzinfo=NY)


def test_the_callback_is_due_when_the_answer_promised_though_the_hours_changed_since(
    weekday_hours, route
):
    with time_machine.travel(SUNDAY_AFTERNOON, tick=False):
        submission = submit_lead(phone="+12025550161")
        promised = datetime.fromisoformat(submission.callback_window["ends_at"])
        assert promised == datetime(2026, 12, 7, 8, 5, tzinfo=NY)  # Monday, after opening
        # The clinic opens on Sundays from now on, before the worker gets to it.
        OpeningHours.objects.create(weekday=6, opens_at=time(8), closes_at=time(20))
        business_time.forget()

        callback = route(submission)

    assert callback.due_at == promised
    assert callback.original_due_at == promised


def test_a_known_person_is_called_at_their_own_best_time_not_the_forms(weekday_hours, route):
    with time_machine.travel(THURSDAY_MORNING, tick=False):
        first = submit_lead(phone="+12025550162", email="known@example.org")
        route(first)
        Callback.objects.update(status=Callback.Status.DONE)  # the lead stays open

        second = submit_lead(phone="+12025550162", email="known@example.org", best_time="evening")
        assert second.lead_id == first.lead_id
        callback = route(second)

    lead = second.lead
    lead.refresh_from_db()
    assert lead.best_time == "anytime"
    assert datetime.fromisoformat(second.callback_window["ends_at"]) == datetime(
        2026, 12, 3, 17, 0, tzinfo=NY
    )  # what the form's answer said, in the evening it asked for
    assert callback.due_at == datetime(2026, 12, 3, 10, 5, tzinfo=NY)  # the lead's own: any time
