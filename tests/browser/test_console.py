"""A coordinator's day in the console, in Chromium: sign in, take the next callback,
log a missed call, take it again when it is due, book a consultation."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from intake.models import Lead
from scheduling.models import Appointment, Availability, CallAttempt, Callback, Clinician
from tests.factories import UserFactory, submit_lead
from tests.signin import totp_code, totp_device

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def coordinator():
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    return user


@pytest.fixture
def clinician():
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=45)
    for day in range(7):
        Availability.objects.create(
            clinician=clinician, weekday=day, starts_at=time(0), ends_at=time(23, 45)
        )
    return clinician


def sign_in(page, live_server, user) -> None:
    """The real form: password, then the code the user's authenticator shows."""
    device = totp_device(user)
    page.goto(f"{live_server.url}/console/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/?next=%2Fconsole%2F")
    page.get_by_label("Code", exact=True).fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/console/")


def test_a_coordinator_takes_logs_retakes_and_books(
    open_page, live_server, coordinator, clinician, settings
):
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    submission = submit_lead(first_name="Jordan", message="Evenings are best")
    callback = Callback.objects.get(submission=submission)  # routed inline on commit
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": 1366, "height": 768})

    sign_in(page, live_server, coordinator)
    assert page.get_by_role("heading", name="Callback queue").is_visible()
    assert page.locator(f'tr[data-callback="{callback.pk}"]').is_visible()

    # N takes the next callback.
    page.keyboard.press("n")
    page.wait_for_url(f"{live_server.url}/console/callbacks/{callback.pk}/")
    assert page.get_by_role("heading", name="Jordan", exact=True).is_visible()
    assert page.get_by_text("Evenings are best").is_visible()

    page.get_by_role("button", name="No answer").click()
    page.wait_for_url(f"{live_server.url}/console/")
    assert page.get_by_text("Call logged.").is_visible()
    callback.refresh_from_db()
    assert callback.status == Callback.Status.OPEN and callback.unanswered_attempts == 1

    # Nothing is ready until the retry is due.
    page.get_by_role("button", name="Next callback").click()
    assert page.get_by_text("Nothing is waiting right now.").is_visible()
    Callback.objects.filter(pk=callback.pk).update(retry_at=timezone.now() - timedelta(seconds=1))

    page.get_by_role("button", name="Next callback").click()
    page.wait_for_url(f"{live_server.url}/console/callbacks/{callback.pk}/")
    assert page.get_by_text("no answer").first.is_visible()  # the first try, in the timeline
    page.screenshot(path=str(settings.BASE_DIR / "var" / "console-callback-1366x768.png"))
    page.get_by_label("Time (clinic time, next 7 days)").select_option(index=2)
    page.get_by_role("button", name="Book and log the call").click()
    page.wait_for_url(f"{live_server.url}/console/appointments/")
    assert page.get_by_text("Consultation booked for").is_visible()

    appointment = Appointment.objects.get()
    assert appointment.lead_id == callback.lead_id
    assert appointment.clinician == clinician
    assert list(CallAttempt.objects.order_by("created_at").values_list("outcome", flat=True)) == [
        "no_answer",
        "booked",
    ]
    assert Lead.objects.get(pk=callback.lead_id).stage == Lead.Stage.CONSULT_BOOKED
    assert log.foreign() == []
    page.screenshot(path=str(settings.BASE_DIR / "var" / "console-1366x768.png"))
