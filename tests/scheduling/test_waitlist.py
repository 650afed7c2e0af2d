"""The waitlist (issue 25, item 5): a person goes on it only when nothing is open within
WAITLIST_AFTER_DAYS; a time that opens (a cancellation, a move, new hours) is texted
to the first waiting people in waitlist order, on a proven phone only, from their
earliest date on; the first to accept gets it, the others are told and keep their
place; the texts follow the discreet and crisis wording rules."""

from __future__ import annotations

import re
from datetime import time, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib import admin
from django.db import connection

from clinic.errors import ApplicationError
from intake.models import Lead
from notifications.models import Message
from scheduling import links, services
from scheduling.admin import ClinicianAdmin
from scheduling.models import (
    Appointment,
    Availability,
    WaitlistEntry,
    WaitlistOffer,
)
from scheduling.services import SlotTaken, waitlist, waitlist_offers
from tests.scheduling.conftest import ny
from tests.scheduling.waitlist_setup import (
    MONDAY,
    book,
    book_up,
    lead,
    monday_clinician,
    wait,
    waitlist_configure,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic(monday_morning_in_new_york, settings):
    waitlist_configure(settings)


@pytest.fixture
def clinician():
    return monday_clinician()


@pytest.fixture
def booked(clinician, route):
    return book_up(clinician, route)


def offers_to(lead_id: int) -> list[Message]:
    return list(
        Message.objects.filter(correlation=f"lead:{lead_id}", template__startswith="waitlist_")
    )


def link_of(message: Message) -> str:
    return re.search(r"https?://\S+/w/(\S+)/", message.body).group(1)


def test_a_person_is_refused_the_waitlist_while_a_time_is_open(clinician, route, coordinator):
    lead_id = lead(route)

    with pytest.raises(waitlist.BookInstead) as refused:
        wait(lead_id, coordinator)

    assert refused.value.status_code == 400
    assert refused.value.code == "book_instead"
    assert [slot.starts_at for slot in refused.value.next_slots] == [ny(30, 11), ny(30, 12)]
    assert not WaitlistEntry.objects.exists()


def test_a_time_beyond_the_window_does_not_keep_a_person_off(booked, route, coordinator):
    # Next Monday's times are open, but seven days away: past the three-day window.
    entry = wait(lead(route), coordinator, note="Can only come after work, Dana says")

    assert entry.status == WaitlistEntry.Status.ACTIVE
    assert entry.earliest_date == MONDAY
    with connection.cursor() as cursor:
        cursor.execute("SELECT note FROM scheduling_waitlistentry WHERE id = %s", [entry.pk])
        (stored,) = cursor.fetchone()
    assert "Dana" not in stored  # encrypted at rest
    assert WaitlistEntry.objects.get(pk=entry.pk).note == "Can only come after work, Dana says"


def test_the_window_starts_at_the_earliest_date(booked, route, coordinator):
    # From next Monday, its times are within three days: book them instead.
    with pytest.raises(waitlist.BookInstead):
        wait(lead(route), coordinator, earliest=MONDAY + timedelta(days=7))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reason": "because"}, "reason"),
        ({"earliest": MONDAY - timedelta(days=1)}, "earliest_date"),
        ({"earliest": MONDAY + timedelta(days=400)}, "earliest_date"),
        ({"note": "x" * 1001}, "note"),
        ({"modality": "carrier pigeon"}, "modality"),
    ],
)
def test_a_bad_request_is_refused_with_its_field(booked, route, coordinator, fields, field):
    with pytest.raises(ApplicationError) as refused:
        wait(lead(route), coordinator, **fields)

    assert refused.value.status_code == 400
    assert field in refused.value.fields
    assert not WaitlistEntry.objects.exists()


def test_joining_the_waitlist_reaches_the_waitlisted_step_and_a_refusal_does_not(
    clinician, route, coordinator
):
    refused_id = lead(route)
    with pytest.raises(waitlist.BookInstead):
        wait(refused_id, coordinator)
    assert Lead.objects.get(pk=refused_id).waitlisted_at is None

    book_up(clinician, route)
    entry = wait(lead(route), coordinator)

    assert Lead.objects.get(pk=entry.lead_id).waitlisted_at == entry.created_at


def test_a_person_waits_once_and_not_with_a_consultation_booked(
    booked, route, coordinator, clinician
):
    lead_id = lead(route)
    wait(lead_id, coordinator)

    with pytest.raises(ApplicationError) as again:
        wait(lead_id, coordinator)
    assert (again.value.status_code, again.value.code) == (409, "already_waiting")
    with pytest.raises(ApplicationError) as booked_already:
        wait(booked[11].lead_id, coordinator)
    assert (booked_already.value.status_code, booked_already.value.code) == (409, "already_booked")


def test_a_cancellation_offers_the_time_to_the_first_waiting_people_in_order(
    booked, route, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    first, second, third = (lead(route) for _ in range(3))
    for lead_id in (first, second, third):
        wait(lead_id, coordinator)
    sms_outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)

    offer = WaitlistOffer.objects.get()
    assert (offer.starts_at, offer.status) == (ny(30, 11), WaitlistOffer.Status.OPEN)
    assert sorted(offer.entries.values_list("lead_id", flat=True)) == sorted([first, second])
    assert offer.expires_at == ny(30, 11)  # the time itself comes before the 24 hours
    assert [len(offers_to(each)) for each in (first, second, third)] == [1, 1, 0]
    statuses = dict(WaitlistEntry.objects.values_list("lead_id", "status"))
    assert statuses == {first: "offered", second: "offered", third: "active"}
    text = offers_to(first)[0]
    assert text.channel == Message.Channel.SMS
    assert "Monday, November 30 at 11:00 AM EST (in person)" in text.body
    assert f"{django_settings.PUBLIC_BASE_URL}/w/" in text.body
    assert django_settings.CLINIC_NAME in text.body
    # The next time that opens goes to the next person, not again to the first two.
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[12].pk, by_person=False)
    later = WaitlistOffer.objects.get(starts_at=ny(30, 12))
    assert list(later.entries.values_list("lead_id", flat=True)) == [third]


def test_only_a_proven_phone_that_takes_texts_is_offered_a_time(
    booked, route, coordinator, django_capture_on_commit_callbacks
):
    unverified = lead(route, verified=False)
    no_texts = lead(route, sms_consent=False)
    proven = lead(route)
    for lead_id in (unverified, no_texts, proven):
        wait(lead_id, coordinator)

    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)

    offer = WaitlistOffer.objects.get()
    assert list(offer.entries.values_list("lead_id", flat=True)) == [proven]
    assert offers_to(unverified) == [] and offers_to(no_texts) == []
    assert WaitlistEntry.objects.get(lead_id=unverified).status == "active"


def test_a_time_before_the_earliest_date_is_not_offered(
    booked, route, coordinator, django_capture_on_commit_callbacks
):
    later = lead(route)
    wait(later, coordinator, earliest=MONDAY + timedelta(days=1))  # Tuesday on: no times
    now = lead(route)
    wait(now, coordinator)

    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)

    assert list(WaitlistOffer.objects.get().entries.values_list("lead_id", flat=True)) == [now]


def test_a_move_frees_the_old_time_for_the_waitlist(
    booked, route, coordinator, clinician, django_capture_on_commit_callbacks
):
    waiting = lead(route)
    wait(waiting, coordinator)
    tuesday_nine = ny(30, 9) + timedelta(days=1)
    Availability.objects.create(clinician=clinician, weekday=1, starts_at=time(9), ends_at=time(10))

    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_move(appointment_id=booked[11].pk, starts_at=tuesday_nine)

    offer = WaitlistOffer.objects.get()
    assert offer.starts_at == ny(30, 11)
    assert list(offer.entries.values_list("lead_id", flat=True)) == [waiting]


def test_new_hours_are_offered_by_the_sweep(
    booked, route, coordinator, clinician, django_capture_on_commit_callbacks
):
    waiting = lead(route)
    wait(waiting, coordinator)
    Availability.objects.create(clinician=clinician, weekday=1, starts_at=time(9), ends_at=time(10))

    assert waitlist.waitlist_offers_make() == 1

    offer = WaitlistOffer.objects.get()
    assert offer.starts_at == ny(30, 9) + timedelta(days=1)
    assert waitlist.waitlist_offers_make() == 0  # one open offer per time and per person


def test_the_first_to_accept_gets_it_and_the_others_are_told(
    booked, route, coordinator, django_capture_on_commit_callbacks, sms_outbox
):
    first, second = lead(route), lead(route)
    for lead_id in (first, second):
        wait(lead_id, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    offer = WaitlistOffer.objects.get()
    entries = {entry.lead_id: entry for entry in WaitlistEntry.objects.all()}

    with django_capture_on_commit_callbacks(execute=True):
        appointment = waitlist_offers.waitlist_offer_accept(
            offer_id=offer.pk, entry_id=entries[second].pk
        )

    assert (appointment.lead_id, appointment.starts_at) == (second, ny(30, 11))
    assert appointment.booked_by_id is None
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.ACCEPTED
    assert (offer.accepted_entry_id, offer.appointment_id) == (entries[second].pk, appointment.pk)
    assert dict(WaitlistEntry.objects.values_list("lead_id", "status")) == {
        first: "active",
        second: "booked",
    }
    assert Lead.objects.get(pk=second).stage == Lead.Stage.CONSULT_BOOKED
    (taken,) = [each for each in offers_to(first) if each.template == "waitlist_taken"]
    assert "went to someone else" in taken.body and "keep your place" in taken.body
    assert Message.objects.filter(dedupe_key=f"appointment-booked:{appointment.pk}:sms").exists()
    with pytest.raises(SlotTaken) as late:
        waitlist_offers.waitlist_offer_accept(offer_id=offer.pk, entry_id=entries[first].pk)
    assert (late.value.status_code, late.value.code) == (409, "offer_taken")
    assert Appointment.objects.filter(starts_at=ny(30, 11), status="booked").count() == 1


def test_a_time_a_coordinator_booked_meanwhile_is_withdrawn_and_nothing_half_written(
    booked, route, coordinator, clinician, django_capture_on_commit_callbacks
):
    waiting = lead(route)
    wait(waiting, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    offer = WaitlistOffer.objects.get()
    entry = WaitlistEntry.objects.get(lead_id=waiting)
    book(lead(route), clinician, 11)

    with pytest.raises(SlotTaken) as refused:
        waitlist_offers.waitlist_offer_accept(offer_id=offer.pk, entry_id=entry.pk)

    assert refused.value.code == "offer_taken"
    offer.refresh_from_db()
    entry.refresh_from_db()
    assert (offer.status, offer.accepted_entry_id) == (WaitlistOffer.Status.WITHDRAWN, None)
    assert entry.status == WaitlistEntry.Status.ACTIVE
    assert not Appointment.objects.filter(lead_id=waiting).exists()


def test_an_expired_offer_goes_to_the_next_people(
    booked, route, coordinator, django_capture_on_commit_callbacks, settings
):
    settings.WAITLIST_OFFER_HOURS = 1
    settings.WAITLIST_OFFER_BATCH = 1
    first, second = lead(route), lead(route)
    for lead_id in (first, second):
        wait(lead_id, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    offer = WaitlistOffer.objects.get()
    entry = WaitlistEntry.objects.get(lead_id=first)

    with time_machine.travel(ny(30, 9, 5), tick=False):
        with pytest.raises(SlotTaken) as expired:
            waitlist_offers.waitlist_offer_accept(offer_id=offer.pk, entry_id=entry.pk)
        assert expired.value.code == "offer_expired"
        with django_capture_on_commit_callbacks(execute=True):
            assert waitlist.waitlist_offers_make() == 1

    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.EXPIRED
    following = WaitlistOffer.objects.get(status=WaitlistOffer.Status.OPEN)
    assert list(following.entries.values_list("lead_id", flat=True)) == [second]
    assert WaitlistEntry.objects.get(lead_id=first).status == "active"


def test_declining_keeps_the_place_and_frees_the_time_for_the_next(
    booked, route, coordinator, django_capture_on_commit_callbacks, settings
):
    settings.WAITLIST_OFFER_BATCH = 1
    first, second = lead(route), lead(route)
    for lead_id in (first, second):
        wait(lead_id, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    offer = WaitlistOffer.objects.get()
    entry = WaitlistEntry.objects.get(lead_id=first)

    assert waitlist_offers.waitlist_offer_decline(offer_id=offer.pk, entry_id=entry.pk)
    assert not waitlist_offers.waitlist_offer_decline(offer_id=offer.pk, entry_id=entry.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert waitlist.waitlist_offers_make() == 1

    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.WITHDRAWN
    assert WaitlistEntry.objects.get(lead_id=first).status == "active"
    following = WaitlistOffer.objects.get(status=WaitlistOffer.Status.OPEN)
    assert list(following.entries.values_list("lead_id", flat=True)) == [second]


def test_a_removed_person_is_offered_nothing_and_cannot_accept(
    booked, route, coordinator, django_capture_on_commit_callbacks
):
    waiting = lead(route)
    entry = wait(waiting, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    offer = WaitlistOffer.objects.get()

    assert waitlist.waitlist_remove(entry_id=entry.pk, removed_by_id=coordinator.pk)
    assert not waitlist.waitlist_remove(entry_id=entry.pk, removed_by_id=coordinator.pk)

    with pytest.raises(ApplicationError) as refused:
        waitlist_offers.waitlist_offer_accept(offer_id=offer.pk, entry_id=entry.pk)
    assert (refused.value.status_code, refused.value.code) == (409, "not_waiting")
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.WITHDRAWN
    assert waitlist.waitlist_offers_make() == 0


def test_the_offer_text_is_discreet_when_the_person_asked(
    booked, route, coordinator, django_capture_on_commit_callbacks
):
    waiting = lead(route, contact_preferences={"mention_clinic_ok": False})
    wait(waiting, coordinator)

    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)

    (text,) = offers_to(waiting)
    assert django_settings.CLINIC_NAME not in text.body
    assert django_settings.DISCREET_SENDER_NAME in text.body
    assert links.waitlist_offer_link(link_of(text)) is not None


def test_a_person_in_crisis_gets_the_crisis_wording(
    booked, route, coordinator, django_capture_on_commit_callbacks
):
    waiting = lead(route, message="I want to end my life")
    wait(waiting, coordinator)

    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)

    (text,) = offers_to(waiting)
    assert text.template == "waitlist_offer_crisis"
    assert "988" in text.body and "911" in text.body


def test_erasing_the_lead_blanks_the_note_and_ends_the_wait(booked, route, coordinator):
    waiting = lead(route)
    entry = wait(waiting, coordinator, note="Prefers Dr. Rivera")

    services.lead_work_erase(lead_id=waiting)

    entry.refresh_from_db()
    assert (entry.note, entry.status) == ("", WaitlistEntry.Status.REMOVED)


def test_a_time_opened_at_night_is_offered_from_the_morning(
    booked, route, coordinator, clinician, django_capture_on_commit_callbacks, settings
):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "21:00", "08:00"
    settings.WAITLIST_OFFER_HOURS = 2
    waiting = lead(route)
    wait(waiting, coordinator)
    tuesday = ny(30, 0) + timedelta(days=1)

    with time_machine.travel(ny(30, 22), tick=False):
        Availability.objects.create(
            clinician=clinician, weekday=1, starts_at=time(11), ends_at=time(12)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert waitlist.waitlist_offers_make() == 1

    offer = WaitlistOffer.objects.get()
    (text,) = offers_to(waiting)
    assert text.status == Message.Status.SCHEDULED
    assert text.send_after == tuesday + timedelta(hours=8)
    # Two hours to answer from when the text goes out, not from 22:00.
    assert offer.expires_at == tuesday + timedelta(hours=10)


def test_an_offer_of_a_time_booked_another_way_is_withdrawn_by_the_sweep(
    booked, route, coordinator, clinician, django_capture_on_commit_callbacks
):
    waiting = lead(route)
    wait(waiting, coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(appointment_id=booked[11].pk, by_person=True)
    book(lead(route), clinician, 11)

    assert waitlist.waitlist_offers_make() == 0

    offer = WaitlistOffer.objects.get()
    assert offer.status == WaitlistOffer.Status.WITHDRAWN
    assert WaitlistEntry.objects.get(lead_id=waiting).status == "active"


def test_hours_added_in_admin_are_offered_at_once(
    booked, route, coordinator, clinician, django_capture_on_commit_callbacks, rf
):
    waiting = lead(route)
    wait(waiting, coordinator)
    clinician_admin = ClinicianAdmin(type(clinician), admin.site)

    with django_capture_on_commit_callbacks(execute=True):
        Availability.objects.create(
            clinician=clinician, weekday=1, starts_at=time(9), ends_at=time(10)
        )
        clinician_admin.save_related(
            rf.post("/"), SimpleNamespace(save_m2m=lambda: None), [], change=True
        )

    offer = WaitlistOffer.objects.get()
    assert offer.starts_at == ny(30, 9) + timedelta(days=1)
    assert list(offer.entries.values_list("lead_id", flat=True)) == [waiting]
