"""Outcomes are chosen, never defaulted: only the holder of a callback logs on it, only
an outcome they named, a closing one only confirmed, "reached and booked" only with its
booking; and the banner afterwards says what was logged for whom."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from clinic import business_time
from clinic.errors import ApplicationError
from intake.models import Lead
from scheduling.models import Appointment, Availability, CallAttempt, Callback, Clinician
from scheduling.services import attempt_log, callback_book
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

CLOSING = ["not_interested", "wrong_number", "do_not_contact"]


@pytest.fixture
def held(client, coordinator, route, settings):
    """Dana's callback, claimed by the signed-in coordinator."""
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    callback = route(submit_lead(first_name="Dana", phone="+12025550170"))
    verified_login(client, coordinator)
    client.post("/console/next/")
    callback.refresh_from_db()
    assert callback.status == Callback.Status.CLAIMED
    return callback


@pytest.fixture
def clinician():
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=60)
    for day in range(7):
        Availability.objects.create(
            clinician=clinician, weekday=day, starts_at=time(0), ends_at=time(23)
        )
    return clinician


def _untouched(callback: Callback, user) -> None:
    callback.refresh_from_db()
    assert callback.status == Callback.Status.CLAIMED
    assert callback.claimed_by == user
    assert not CallAttempt.objects.filter(callback=callback).exists()
    assert Lead.objects.get(pk=callback.lead_id).stage == Lead.Stage.CONTACTING


def test_a_post_without_an_outcome_logs_nothing_and_says_choose_one(client, coordinator, held):
    response = client.post(
        f"/console/callbacks/{held.pk}/attempt/",
        {"notes": "Rang at ten", "call_back_at": "2030-01-07T10:00"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose an outcome." in html
    assert "Rang at ten</textarea>" in html
    assert 'value="2030-01-07T10:00"' in html  # the call-back time is not lost
    _untouched(held, coordinator)


def test_the_form_has_no_default_outcome_and_enter_cannot_submit_it(client, held):
    html = client.get(f"/console/callbacks/{held.pk}/").content.decode()

    form = html[html.index('id="outcome-form"') : html.index("</form>", html.index("outcome-form"))]
    assert form.count('type="radio" name="outcome"') == 6  # 8 outcomes: no voicemail, booked
    assert " checked" not in form
    # The first submit button is the form's default one (HTML's implicit submission):
    # disabled, so Enter in "Call back at" or on a choice submits nothing.
    first_button = form[form.index("<button") : form.index(">", form.index("<button"))]
    assert 'type="submit"' in first_button and "disabled" in first_button
    assert 'name="outcome" value="booked"' not in form  # booked is logged by booking


def test_a_callback_nobody_claimed_cannot_be_logged(
    client, coordinator, route, django_capture_on_commit_callbacks
):
    callback = route(submit_lead(first_name="Dana"))
    verified_login(client, coordinator)

    with pytest.raises(ApplicationError) as error:
        attempt_log(callback_id=callback.pk, user_id=coordinator.pk, outcome="reached")
    assert error.value.code == "not_holder"
    response = client.post(f"/console/callbacks/{callback.pk}/attempt/", {"outcome": "reached"})

    assert response.status_code == 409
    callback.refresh_from_db()
    assert callback.status == Callback.Status.OPEN
    assert not CallAttempt.objects.exists()
    page = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    assert 'id="outcome-form"' not in page
    assert "Take this callback" in page


def test_a_supervisor_looking_at_a_coordinators_callback_cannot_close_it(
    client, coordinator, supervisor, held
):
    verified_login(client, supervisor)
    page = client.get(f"/console/callbacks/{held.pk}/").content.decode()
    assert 'id="outcome-form"' not in page
    assert f"{coordinator.username} holds this callback" in page

    response = client.post(
        f"/console/callbacks/{held.pk}/attempt/",
        {"outcome": "do_not_contact", "confirm": "do_not_contact"},
    )

    assert response.status_code == 409
    _untouched(held, coordinator)


@pytest.mark.parametrize("outcome", CLOSING)
def test_a_closing_outcome_is_logged_only_once_confirmed(client, coordinator, held, outcome):
    response = client.post(
        f"/console/callbacks/{held.pk}/attempt/", {"outcome": outcome, "notes": "Said no"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    label = CallAttempt.Outcome(outcome).label
    assert f"Log “{label}” for Dana?" in html
    assert f'<button type="submit" name="confirm" value="{outcome}"' in html
    assert "Said no</textarea>" in html
    assert f'value="{outcome}" required' in html and " checked>" in html  # as chosen
    _untouched(held, coordinator)

    # Another outcome's confirmation is no confirmation.
    other = next(each for each in CLOSING if each != outcome)
    wrong = client.post(
        f"/console/callbacks/{held.pk}/attempt/", {"outcome": outcome, "confirm": other}
    )
    assert wrong.status_code == 400
    _untouched(held, coordinator)

    done = client.post(
        f"/console/callbacks/{held.pk}/attempt/",
        {"outcome": outcome, "confirm": outcome, "notes": "Said no"},
    )

    assert done.status_code == 302
    held.refresh_from_db()
    assert held.status == Callback.Status.DONE
    assert Lead.objects.get(pk=held.lead_id).stage == Lead.Stage.CLOSED
    assert CallAttempt.objects.get(callback=held).outcome == outcome


def test_the_api_refuses_a_missing_outcome_an_unconfirmed_closing_and_a_non_holder(
    api_client, coordinator, supervisor, route
):
    callback = route(submit_lead(first_name="Dana"))
    url = f"/api/v1/callbacks/{callback.pk}/attempts/"
    api_client.force_authenticate(coordinator)
    assert api_client.post(url, {"outcome": "reached"}, format="json").status_code == 409
    api_client.post("/api/v1/callbacks/claim-next/")

    missing = api_client.post(url, {"notes": "x"}, format="json")
    unconfirmed = api_client.post(url, {"outcome": "wrong_number"}, format="json")
    booked = api_client.post(url, {"outcome": "booked"}, format="json")
    api_client.force_authenticate(supervisor)
    other = api_client.post(
        url, {"outcome": "wrong_number", "confirm": "wrong_number"}, format="json"
    )

    assert missing.status_code == 400 and "outcome" in missing.json()["fields"]
    assert unconfirmed.status_code == 400
    assert unconfirmed.json()["code"] == "confirmation_required"
    assert "confirm" in unconfirmed.json()["fields"]
    assert booked.status_code == 400 and booked.json()["code"] == "booking_required"
    assert other.status_code == 409 and other.json()["code"] == "not_holder"
    assert not CallAttempt.objects.exists()

    api_client.force_authenticate(coordinator)
    confirmed = api_client.post(
        url, {"outcome": "wrong_number", "confirm": "wrong_number"}, format="json"
    )
    assert confirmed.status_code == 201


def test_reached_and_booked_is_not_logged_without_a_booking(client, coordinator, held):
    response = client.post(f"/console/callbacks/{held.pk}/attempt/", {"outcome": "booked"})

    assert response.status_code == 400
    assert "logged with the booking" in response.content.decode()
    _untouched(held, coordinator)


def test_a_refused_booking_logs_nothing_and_keeps_the_callback_and_the_notes(
    client, coordinator, held, clinician
):
    taken = timezone.now() + timedelta(days=2)
    response = client.post(
        f"/console/callbacks/{held.pk}/book/",
        {"slot": f"{clinician.pk}|{taken.isoformat()}", "notes": "Wants Thursday"},
    )

    assert response.status_code == 409  # not one of the offered times
    html = response.content.decode()
    assert 'id="book-error"' in html and 'role="alert"' in html
    assert "That time is not available." in html
    assert "Wants Thursday</textarea>" in html
    assert not Appointment.objects.exists()
    _untouched(held, coordinator)


def test_booking_logs_reached_and_booked_with_the_notes_and_says_so(
    client, coordinator, held, clinician
):
    page = client.get(f"/console/callbacks/{held.pk}/")
    [slot] = [option for option in page.context["slots"]][:1]

    response = client.post(
        f"/console/callbacks/{held.pk}/book/",
        {"slot": f"{clinician.pk}|{slot.starts_at.isoformat()}", "notes": "Wants Thursday"},
        follow=True,
    )

    attempt = CallAttempt.objects.get(callback=held)
    assert attempt.outcome == "booked" and attempt.notes == "Wants Thursday"
    appointment = Appointment.objects.get()
    assert appointment.lead_id == held.lead_id
    held.refresh_from_db()
    assert held.status == Callback.Status.DONE
    html = response.content.decode()
    assert "Logged “Reached and booked a consultation” for Dana. Consultation" in html
    assert "with Dr. Rivera." in html


def test_callback_book_checks_the_holder_before_booking(coordinator, supervisor, held, clinician):
    with pytest.raises(ApplicationError) as error:
        callback_book(
            callback_id=held.pk,
            user_id=supervisor.pk,
            clinician_id=clinician.pk,
            starts_at=timezone.now() + timedelta(days=1),
        )
    assert error.value.code == "not_holder"
    assert not Appointment.objects.exists()


def test_the_banner_names_the_outcome_the_person_and_the_next_try(client, coordinator, held):
    response = client.post(
        f"/console/callbacks/{held.pk}/attempt/", {"outcome": "no_answer"}, follow=True
    )

    held.refresh_from_db()
    zone = business_time.clinic_zone()
    retry = timezone.localtime(held.retry_at, zone)
    today = timezone.localtime(timezone.now(), zone).date()
    when = f"{retry:%H:%M}" if retry.date() == today else f"{retry:%a} {retry.day} {retry:%b %H:%M}"
    html = response.content.decode()
    start = html.index('<div class="notice ok logged" role="status" id="logged"')
    banner = html[start : html.index("</div>", start)]
    assert f"Logged “No answer” for Dana. Next try at {when}." in banner
    assert "Undo" not in banner  # only closing outcomes are undone
    # Shown once: the banner is about what was just done.
    assert 'id="logged"' not in client.get("/console/").content.decode()


def test_call_back_later_keeps_the_time_the_coordinator_typed(client, held):
    response = client.post(
        f"/console/callbacks/{held.pk}/attempt/",
        {"outcome": "call_back_later", "call_back_at": "2030-01-07T10:00"},
        follow=True,
    )

    held.refresh_from_db()
    assert held.retry_at is not None and held.status == Callback.Status.OPEN
    assert "Logged “Asked to be called back later” for Dana. Call back at Mon 7 Jan 10:00." in (
        response.content.decode()
    )
