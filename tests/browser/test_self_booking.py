"""In Chromium at 390 px: the person opens the booking link a coordinator texted them,
chooses how and when, books, sees the consultation with how it takes place, then moves
it to another time from the same page; no horizontal scrolling, no serious
accessibility violation."""

from __future__ import annotations

import re
from datetime import time
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from intake.models import Lead
from intake.services import lead_details_verify
from notifications.models import Message
from scheduling.models import Appointment, AppointmentChange, Availability, Callback, Clinician
from scheduling.services import self_booking
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401 (a fixture)
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def texted_link(settings):
    """A lead in Los Angeles whose number a coordinator reached, a clinician free every
    hour of every day, and the booking link the coordinator texted."""
    from scheduling.services import submission_route

    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.STAFF_ALERT_EMAILS = []
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "23:59:59.999999", "00:00"
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=60)
    for day in range(7):
        Availability.objects.create(
            clinician=clinician, weekday=day, starts_at=time(0), ends_at=time(23)
        )
    submission = submit_lead(first_name="Robin", message="Evenings")
    submission_route(submission_id=submission.pk)
    lead_details_verify(lead_id=submission.lead_id, phone=True, by=Lead.Verification.CALL)
    Lead.objects.filter(pk=submission.lead_id).update(timezone="America/Los_Angeles")
    callback = Callback.objects.get(lead_id=submission.lead_id)
    coordinator = UserFactory(username="casey")
    message = self_booking.booking_link_send(callback_id=callback.pk, user_id=coordinator.pk)
    url = re.search(r"https?://\S+/b/\S+/", message.body).group(0)
    return submission.lead_id, urlsplit(url).path


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_person_books_from_the_texted_link_then_moves_it(
    axe_page,  # noqa: F811
    live_server,
    texted_link,
):
    lead_id, path = texted_link
    page = axe_page(390, 844)
    page.goto(live_server.url + path)
    page.get_by_role("heading", name="Choose a time for your consultation").wait_for()
    assert "America/Los_Angeles" in page.locator(".slot-picker").inner_text()
    _fits(page)
    assert serious_violations(page) == []

    page.get_by_label("By phone. We will call you at the number you gave us.").check()
    first = page.locator(".slot-option").first
    first_time = first.inner_text().strip()
    first.click()
    page.get_by_role("button", name="Book this time").click()
    page.wait_for_url(re.compile(r".*/a/[^/]+/\?done=booked$"))

    assert page.get_by_role("status").first.inner_text() == "Booked. We have sent you the details."
    when = page.locator(".appointment-when").inner_text()
    assert first_time in when and ("PST" in when or "PDT" in when)
    assert page.locator(".appointment-place").inner_text() == (
        "By phone. We will call you at the number you gave us."
    )
    _fits(page)
    assert serious_violations(page) == []
    appointment = Appointment.objects.get(lead_id=lead_id)
    assert appointment.modality == "phone"
    local = appointment.starts_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert f"{local:%I:%M %p}".lstrip("0") == first_time
    assert Message.objects.filter(template="appointment_booked", channel="sms").exists()

    # Move it: another time from the same picker.
    later = page.locator(".move .slot-option").nth(2)
    later_time = later.inner_text().strip()
    later.click()
    page.get_by_role("button", name="Move to this time").click()
    page.get_by_text("Moved. We have sent you the new time.").wait_for()
    assert later_time in page.locator(".appointment-when").inner_text()
    assert "By phone" in page.locator(".appointment-place").inner_text()
    _fits(page)
    appointment.refresh_from_db()
    assert appointment.ics_sequence == 1
    assert list(
        AppointmentChange.objects.filter(appointment=appointment)
        .order_by("pk")
        .values_list("kind", "actor")
    ) == [("booked", "person_link"), ("moved", "person_link")]

    # The link booked once: opened again, it shows the consultation.
    page.goto(live_server.url + path)
    page.wait_for_url(re.compile(r".*/a/[^/]+/$"))
    assert later_time in page.locator(".appointment-when").inner_text()

    # Cancel: asked once more; "No, keep it" changes nothing, "Yes" cancels.
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("heading", name="Cancel this consultation?").wait_for()
    _fits(page)
    assert serious_violations(page) == []
    page.get_by_role("link", name="No, keep it").click()
    page.get_by_role("button", name="Cancel", exact=True).wait_for()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED

    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("button", name="Yes, cancel it").click()
    page.get_by_text("It is cancelled.").wait_for()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert AppointmentChange.objects.filter(appointment=appointment).latest("pk").kind == (
        "cancelled"
    )
