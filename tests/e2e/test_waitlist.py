"""A cancellation offers its time to the waitlist through a real worker on Redis: the
cancel publishes the offer sweep after commit, the worker makes the offer and records
its text (issue 25, item 5)."""

from __future__ import annotations

from datetime import time as clock
from datetime import timedelta

import pytest
from django.utils import timezone

from intake.models import Lead, Submission
from intake.services import lead_details_verify, lead_submit
from notifications.models import Message
from scheduling import selectors, services
from scheduling.models import Availability, Clinician, WaitlistOffer
from scheduling.services import waitlist
from tests.e2e.conftest import wait_for
from tests.factories import ArticleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def routed_lead(phone: str) -> int:
    """A request as the form makes it, attached to its lead by the worker."""
    submission = lead_submit(
        first_name="Maria",
        phone=phone,
        sms_consent=True,
        article_slug="science-behind-antidepressants",
        ip_address="203.0.113.9",
        user_agent="pytest",
    ).submission

    def attached() -> bool:
        return Submission.objects.filter(pk=submission.pk, lead__isnull=False).exists()

    assert wait_for(attached, timeout=20)
    return Submission.objects.get(pk=submission.pk).lead_id


def test_a_cancelled_time_is_offered_to_the_waitlist_by_the_worker(real_worker, coordinator):
    ArticleFactory(slug="science-behind-antidepressants")
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=60)
    for weekday in range(7):
        Availability.objects.create(
            clinician=clinician, weekday=weekday, starts_at=clock(12), ends_at=clock(13)
        )
    now = timezone.now()
    # Every time in the waitlist's window (and a day past it) is booked.
    slots = selectors.slots_available(start=now, end=now + timedelta(days=16))
    booker = routed_lead("+12025557000")
    taken = [
        services.appointment_book(
            lead_id=booker, clinician_id=clinician.pk, starts_at=slot.starts_at, booked_by_id=None
        )
        for slot in slots
    ]
    waiting = routed_lead("+12025557999")
    lead_details_verify(lead_id=waiting, phone=True, by=Lead.Verification.CALL)
    entry = waitlist.waitlist_add(
        lead_id=waiting,
        request=waitlist.waitlist_check(reason="no-times-soon", earliest_date=None),
        added_by_id=coordinator.pk,
    )
    freed = next(each for each in taken if each.starts_at > now + timedelta(days=2))

    services.appointment_cancel(appointment_id=freed.pk, by_person=False)

    def offered() -> bool:
        return WaitlistOffer.objects.filter(starts_at=freed.starts_at, entries=entry).exists()

    assert wait_for(offered, timeout=20), real_worker.log()
    assert Message.objects.filter(correlation=f"lead:{waiting}", template="waitlist_offer").exists()
