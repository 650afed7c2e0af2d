"""The page of a confirmation email's link: a cancel is asked once more and can be
undone there for 24 hours, restoring what that cancel changed and never more; after
saving, the page lists the choices in force for that request, and it never shows the
person's name, phone or email, nor anything the request itself did not say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from intake import services as intake_services
from intake.models import Lead, Submission
from notifications import services as notification_services
from scheduling import links, services
from scheduling.models import Appointment, Callback, Clinician, RequestLinkChoices

pytestmark = pytest.mark.django_db

# Monday 2026-11-30, 10:00 in New York: the clinic is open (no hours configured).
MONDAY = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(settings):
    settings.CLINIC_TIME_ZONE = "America/New_York"
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def routed(route):
    """A routed submission (lead, open callback, confirmations) and its link's path."""
    from tests.factories import submit_lead

    def make(**fields):
        submission = submit_lead(first_name="Dana", last_name="Okafor", **fields)
        callback = route(submission)
        submission.refresh_from_db()
        url = links.request_manage_url(
            submission_id=submission.pk, email_hash=submission.email_hash
        )
        return submission, callback, urlsplit(url).path

    return make


def _html(response) -> str:
    return response.content.decode()


def test_cancel_asks_once_more_and_changes_nothing_until_confirmed(client, routed):
    submission, callback, path = routed()

    page = client.post(path, {"action": "cancel"})

    assert page.status_code == 200
    assert "Cancel this request?" in _html(page)
    assert 'value="cancel_confirmed"' in _html(page)
    submission.refresh_from_db()
    assert submission.cancelled_at is None
    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.OPEN
    assert Lead.objects.get(pk=submission.lead_id).stage != Lead.Stage.CLOSED


def test_a_confirmed_cancel_can_be_undone_from_the_same_page_and_everything_comes_back(
    client, routed
):
    submission, callback, path = routed()
    stage_before = Lead.objects.get(pk=submission.lead_id).stage

    cancelled = client.post(path, {"action": "cancel_confirmed"})

    assert "Your request is cancelled" in _html(cancelled)
    assert 'data-choice="cancelled"' in _html(cancelled)
    assert 'value="undo"' in _html(cancelled)
    # The deadline, in the person's zone (the factory's submissions give none: the clinic's).
    assert "until Tuesday, December 1 at 10:00 AM EST" in _html(cancelled)
    assert Lead.objects.get(pk=submission.lead_id).stage == Lead.Stage.CLOSED
    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.CANCELLED

    restored = client.post(path, {"action": "undo"})

    assert restored.status_code == 200
    assert "Your request is restored" in _html(restored)
    assert 'data-choice="cancelled"' not in _html(restored)
    submission.refresh_from_db()
    assert submission.cancelled_at is None
    lead = Lead.objects.get(pk=submission.lead_id)
    assert (lead.stage, lead.closed_at, lead.closed_reason) == (stage_before, None, "")
    callback.refresh_from_db()
    assert (callback.status, callback.closed_at) == (Callback.Status.OPEN, None)
    choices = RequestLinkChoices.objects.get(submission=submission)
    assert choices.restored_at == timezone.now()
    assert choices.cancelled_at is None


def test_a_callback_whose_time_passed_while_cancelled_is_due_again_by_the_clock(
    client, routed, _clock
):
    _submission, callback, path = routed()
    client.post(path, {"action": "cancel_confirmed"})
    _clock.shift(timedelta(hours=5))

    client.post(path, {"action": "undo"})

    callback.refresh_from_db()
    assert callback.status == Callback.Status.OPEN
    assert callback.due_at > timezone.now()  # not an instant escalation
    assert callback.escalation_level == 0


def test_after_24_hours_the_cancel_can_no_longer_be_undone(client, routed, _clock):
    submission, callback, path = routed()
    client.post(path, {"action": "cancel_confirmed"})
    _clock.shift(timedelta(hours=24, minutes=1))

    page = client.get(path)
    assert 'value="undo"' not in _html(page)
    refused = client.post(path, {"action": "undo"})

    assert refused.status_code == 409
    assert "can be restored for 24 hours" in _html(refused)
    submission.refresh_from_db()
    assert submission.cancelled_at is not None
    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.CANCELLED
    assert Lead.objects.get(pk=submission.lead_id).stage == Lead.Stage.CLOSED


def test_undo_never_reopens_a_lead_the_link_did_not_close(client, routed):
    first, callback, _first_path = routed(phone="+12025550101", email="dana@example.org")
    second, _same, path = routed(phone="+12025550101", email="dana@example.org")
    assert second.lead_id == first.lead_id
    client.post(path, {"action": "cancel_confirmed"})  # the first request is still live
    assert Lead.objects.get(pk=first.lead_id).stage != Lead.Stage.CLOSED
    # A coordinator then closes the lead: their decision, not the link's.
    intake_services.lead_stage_advance(
        lead_id=first.lead_id, stage=Lead.Stage.CLOSED, reason="not interested"
    )
    Callback.objects.filter(pk=callback.pk).update(status=Callback.Status.DONE)

    page = client.post(path, {"action": "undo"})

    assert "Your request is restored" in _html(page)
    second.refresh_from_db()
    assert second.cancelled_at is None
    lead = Lead.objects.get(pk=first.lead_id)
    assert (lead.stage, lead.closed_reason) == (Lead.Stage.CLOSED, "not interested")
    assert Callback.objects.get(pk=callback.pk).status == Callback.Status.DONE


def test_undo_leaves_a_newer_lead_alone_and_answers_the_same(client, routed):
    old, old_callback, path = routed(phone="+12025550102", email="sam@example.org")
    client.post(path, {"action": "cancel_confirmed"})
    newer, newer_callback, _newer_path = routed(phone="+12025550102", email="sam@example.org")
    assert newer.lead_id != old.lead_id

    page = client.post(path, {"action": "undo"})

    # The same answer as when everything came back: the page tells nothing of other requests.
    assert page.status_code == 200
    assert "Your request is restored" in _html(page)
    assert Lead.objects.get(pk=old.lead_id).stage == Lead.Stage.CLOSED
    assert Callback.objects.get(pk=old_callback.pk).status == Callback.Status.CANCELLED
    assert Callback.objects.get(pk=newer_callback.pk).status == Callback.Status.OPEN
    assert Lead.objects.get(pk=newer.lead_id).stage != Lead.Stage.CLOSED


def test_undo_does_not_rebook_a_consultation_the_cancel_cancelled(client, routed):
    submission, _callback, path = routed()
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=60)
    appointment = Appointment.objects.create(
        lead_id=submission.lead_id,
        clinician=clinician,
        starts_at=MONDAY + timedelta(days=2),
        ends_at=MONDAY + timedelta(days=2, hours=1),
    )
    client.post(path, {"action": "cancel_confirmed"})
    cancelled = Appointment.objects.get(pk=appointment.pk).status == Appointment.Status.CANCELLED

    client.post(path, {"action": "undo"})

    appointment.refresh_from_db()
    if cancelled:  # today's link cancels consultations too; an undo never books one again
        assert appointment.status == Appointment.Status.CANCELLED
        assert RequestLinkChoices.objects.get(submission=submission).consultations_cancelled == 1
    else:
        assert appointment.status in Appointment.ACTIVE


def test_a_link_can_only_undo_its_own_requests_cancel(client, routed):
    one, _callback_one, path_one = routed()
    two, _callback_two, path_two = routed()
    client.post(path_one, {"action": "cancel_confirmed"})

    refused = client.post(path_two, {"action": "undo"})

    assert refused.status_code == 409
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.cancelled_at is not None and two.cancelled_at is None


def test_a_cancel_made_elsewhere_cannot_be_undone_from_the_link(client, routed):
    submission, _callback, path = routed()
    services.submission_cancel(submission_id=submission.pk)  # not through the link's page

    page = client.get(path)
    assert 'data-choice="cancelled"' in _html(page)
    assert 'value="undo"' not in _html(page)
    assert client.post(path, {"action": "undo"}).status_code == 409
    submission.refresh_from_db()
    assert submission.cancelled_at is not None


def test_after_saving_the_page_lists_the_choices_now_in_force(client, routed):
    _submission, _callback, path = routed(contact_preferences={"voicemail_ok": True})
    page = client.get(path)
    assert 'data-choice="no_voicemail"' not in _html(page)
    assert 'data-choice="no_texts"' not in _html(page)

    saved = client.post(
        path,
        {"action": "restrict", "no_voicemail": "on", "no_clinic_name": "on", "stop_texts": "on"},
    )

    html = _html(saved)
    assert "Saved. These choices are now in force for this request." in html
    for choice in ("no_voicemail", "no_clinic_name", "no_texts"):
        assert f'data-choice="{choice}"' in html
    # What is in force is no longer offered; the page shows the same on the next visit.
    assert 'name="stop_texts"' not in html and 'name="no_voicemail"' not in html
    again = _html(client.get(path))
    for choice in ("no_voicemail", "no_clinic_name", "no_texts"):
        assert f'data-choice="{choice}"' in again


def test_the_page_shows_only_what_this_request_said_not_the_phones_other_state(client, routed):
    submission, _callback, path = routed(sms_consent=True)
    # The phone opted out elsewhere (a STOP): the page must not tell a link's holder.
    notification_services.opt_out_record(phone=str(submission.phone), source="sms")

    assert 'data-choice="no_texts"' not in _html(client.get(path))


def test_the_page_never_shows_the_persons_name_phone_or_email(client, routed):
    submission, _callback, path = routed(email="dana.okafor@example.org")
    personal = [
        "Dana",
        "Okafor",
        "dana.okafor",
        str(submission.phone),
        submission.phone.as_national,
        submission.reference,
    ]
    pages = [
        client.get(path),
        client.post(path, {"action": "restrict", "no_clinic_name": "on"}),
        client.post(path, {"action": "cancel"}),
        client.post(path, {"action": "cancel_confirmed"}),
        client.post(path, {"action": "undo"}),
    ]
    for page in pages:
        html = _html(page)
        for value in personal:
            assert value not in html, value


def test_cancel_and_undo_are_on_the_requests_audit_trail(client, routed):
    from clinic.audit.trail import trail_for_lead

    submission, _callback, path = routed()
    client.post(path, {"action": "cancel_confirmed"})
    client.post(path, {"action": "undo"})

    trail = trail_for_lead(submission.lead_id)
    choices = [entry for entry in trail if entry.model == "scheduling.RequestLinkChoices"]
    assert [entry.label for entry in reversed(choices)] == ["insert", "update"]
    assert "restored_at" in choices[0].changes
    submissions = [
        entry
        for entry in trail
        if entry.model == "intake.Submission" and "cancelled_at" in entry.changes
    ]
    assert len(submissions) >= 2  # cancelled, then restored
    for entry in trail:
        assert "Dana" not in str(entry.changes)
    assert Submission.objects.get(pk=submission.pk).cancelled_at is None
