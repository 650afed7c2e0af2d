"""Two waiting people accepting the same offered time at once, each on their own
database connection (issue 25, item 5): exactly one is booked, the other is told it
was taken and keeps their place, and one appointment exists."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from scheduling import services
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from scheduling.services import SlotTaken, waitlist_offers
from tests.scheduling.conftest import ny
from tests.scheduling.waitlist_setup import (
    book_up,
    lead,
    monday_clinician,
    wait,
    waitlist_configure,
)


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    waitlist_configure(settings)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slow_booking", [False, False, True])
def test_two_people_accepting_one_offer_at_once_give_it_to_one(
    route, coordinator, monkeypatch, slow_booking
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, there is no race to test")
    booked = book_up(monday_clinician(), route)
    people = [lead(route), lead(route)]
    entries = [wait(lead_id, coordinator) for lead_id in people]
    services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    offer = WaitlistOffer.objects.get()  # the cancellation's sweep ran on commit
    assert sorted(offer.entries.values_list("pk", flat=True)) == sorted(e.pk for e in entries)
    if slow_booking:
        # The winner holds the offer's row while it books: the other's conditional
        # update waits for it, then finds the offer taken.
        book = waitlist_offers.appointment_book

        def slow_book(**kwargs):
            time.sleep(0.5)
            return book(**kwargs)

        monkeypatch.setattr(waitlist_offers, "appointment_book", slow_book)
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def accept(entry_id: int) -> None:
        try:
            start.wait()
            waitlist_offers.waitlist_offer_accept(offer_id=offer.pk, entry_id=entry_id)
            outcomes[entry_id] = "booked"
        except SlotTaken as error:
            outcomes[entry_id] = error.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(entry.pk,)) for entry in entries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["booked", "offer_taken"]
    winner = next(pk for pk, outcome in outcomes.items() if outcome == "booked")
    loser = next(pk for pk, outcome in outcomes.items() if outcome != "booked")
    at_eleven = Appointment.objects.filter(starts_at=ny(30, 11), status__in=Appointment.ACTIVE)
    assert at_eleven.count() == 1
    assert at_eleven.get().lead_id == WaitlistEntry.objects.get(pk=winner).lead_id
    offer.refresh_from_db()
    assert (offer.status, offer.accepted_entry_id) == (WaitlistOffer.Status.ACCEPTED, winner)
    assert WaitlistEntry.objects.get(pk=loser).status == WaitlistEntry.Status.ACTIVE
    assert WaitlistEntry.objects.get(pk=winner).status == WaitlistEntry.Status.BOOKED
