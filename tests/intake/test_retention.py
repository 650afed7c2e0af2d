"""Retention: leads closed without admission are anonymised after RETENTION_DAYS, their
aggregates and their consent and opt-out evidence (as hashes) kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.forms.models import model_to_dict
from django.utils import timezone

from clinic.crypto import phone_hash
from config.celery import app as celery_app
from intake import tasks as intake_tasks
from intake.models import Consent, FunnelRollup, IdempotencyKey, Lead, Submission
from intake.services import (
    funnel_rollups_rebuild,
    lead_ids_retention_due,
    lead_stage_advance,
    leads_retention_anonymise,
)
from notifications import services as notification_services
from notifications.models import InboundMessage, Message, OptOut
from scheduling.models import CallAttempt, Callback
from scheduling.services import attempt_log, callback_claim_next
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db

LATER = timedelta(days=400)


def rollups() -> list[dict]:
    return sorted(
        (model_to_dict(row, exclude=["id"]) for row in FunnelRollup.objects.all()),
        key=repr,
    )


@pytest.fixture
def closed_lead(route, coordinator, django_capture_on_commit_callbacks):
    """A lead who was called, wrote to us, and was closed (not interested)."""

    def make(phone: str, **values) -> Lead:
        submission = submit_lead(
            phone=phone, message="My private story", idempotency_key=f"key-{phone}", **values
        )
        route(submission)
        callback = callback_claim_next(user_id=coordinator.pk)
        with django_capture_on_commit_callbacks(execute=True):
            notification_services.inbound_receive(
                provider_id=f"SM-{phone}", sender=phone, body="Please call after five"
            )
            attempt_log(
                callback_id=callback.pk,
                user_id=coordinator.pk,
                outcome="not_interested",
                confirm="not_interested",
                notes="Talked about her family",
            )
        lead = Lead.objects.get(pk=submission.lead_id)
        assert lead.stage == Lead.Stage.CLOSED
        return lead

    return make


def test_a_lead_closed_longer_than_the_period_is_anonymised(closed_lead):
    lead = closed_lead("+12025550171", last_name="Souza")
    messages_before = Message.objects.filter(correlation=f"lead:{lead.pk}").count()
    assert messages_before

    assert leads_retention_anonymise(now=timezone.now() + LATER) == 1

    lead.refresh_from_db()
    assert lead.anonymised_at is not None
    assert lead.anonymised_reason == "retention period ended"
    assert (lead.first_name, lead.last_name, str(lead.phone), lead.email) == ("", "", "", "")
    assert (lead.phone_hash, lead.email_hash) == ("", "")
    submission = Submission.objects.get(lead=lead)
    assert (submission.first_name, str(submission.phone), submission.email) == ("", "", "")
    assert submission.message == ""
    assert submission.page_url == ""
    assert not IdempotencyKey.objects.filter(submission=submission).exists()
    assert CallAttempt.objects.get(callback__lead=lead).notes == ""
    messages = Message.objects.filter(correlation=f"lead:{lead.pk}")
    assert messages.count() == messages_before  # rows stay, for delivery statistics
    for message in messages:
        assert (message.recipient, message.subject, message.body, message.body_html) == (
            "",
            "",
            "",
            "",
        )
    inbound = InboundMessage.objects.get(provider_id="SM-+12025550171")
    assert (inbound.sender, inbound.sender_hash, inbound.body) == ("", "", "")


def test_consent_evidence_stays_as_a_hash(closed_lead):
    lead = closed_lead("+12025550172")
    consent_before = Consent.objects.get(lead=lead)

    leads_retention_anonymise(now=timezone.now() + LATER)

    consent = Consent.objects.get(lead=lead)
    assert (str(consent.phone), consent.ip_address, consent.user_agent, consent.page_url) == (
        "",
        None,
        "",
        "",
    )
    assert consent.phone_hash == phone_hash("+12025550172")
    assert consent.granted == consent_before.granted
    assert consent.text_version == consent_before.text_version
    assert consent.text_sha256 == consent_before.text_sha256
    assert consent.created_at == consent_before.created_at


def test_an_opt_out_is_still_honoured_after_anonymisation(closed_lead):
    lead = closed_lead("+12025550173")
    notification_services.opt_out_record(phone="+12025550173", source="inbound keyword")

    leads_retention_anonymise(now=timezone.now() + LATER)

    assert OptOut.objects.get(phone_hash=phone_hash("+12025550173")).phone == ""
    assert lead.pk
    message = notification_services.message_send(
        channel="sms", purpose="follow_up", recipient="+12025550173", template="help", context={}
    )
    assert message.status == Message.Status.SUPPRESSED


def test_the_funnel_rollups_do_not_change(closed_lead):
    closed_lead("+12025550174")
    booked = submit_lead(phone="+12025550175", utm={"utm_source": "newsletter"})
    for stage in (Lead.Stage.CONTACTED, Lead.Stage.CONSULT_BOOKED):
        lead_stage_advance(lead_id=booked.lead_id, stage=stage)
    lead_stage_advance(lead_id=booked.lead_id, stage=Lead.Stage.CLOSED, reason="no-show")
    before = rollups()
    assert any(row["leads"] for row in before)
    assert any(row["consult_booked"] and row["utm_source"] == "newsletter" for row in before)

    assert leads_retention_anonymise(now=timezone.now() + LATER) == 2

    assert rollups() == before
    # Rebuilt from the anonymised raw rows, the rollups are the same.
    assert funnel_rollups_rebuild() == 0
    assert rollups() == before


def test_only_leads_closed_without_admission_past_the_period_are_anonymised(closed_lead, route):
    old = closed_lead("+12025550176")
    open_lead = Lead.objects.get(pk=submit_lead(phone="+12025550177").lead_id)
    admitted = Lead.objects.get(pk=submit_lead(phone="+12025550178").lead_id)
    lead_stage_advance(lead_id=admitted.pk, stage=Lead.Stage.ADMITTED)
    lead_stage_advance(lead_id=admitted.pk, stage=Lead.Stage.CLOSED, reason="discharged")
    now = timezone.now() + timedelta(days=settings.RETENTION_DAYS)

    # Not yet: closed less than RETENTION_DAYS ago.
    assert lead_ids_retention_due(now=now - timedelta(minutes=5)) == []
    assert lead_ids_retention_due(now=now + timedelta(minutes=5)) == [old.pk]
    leads_retention_anonymise(now=now + timedelta(minutes=5))

    for lead in (open_lead, admitted):
        lead.refresh_from_db()
        assert lead.anonymised_at is None
        assert lead.first_name == "Maria"
        assert lead.phone


def test_the_period_is_configurable(closed_lead, settings):
    settings.RETENTION_DAYS = 30
    closed_lead("+12025550179")

    assert leads_retention_anonymise(now=timezone.now() + timedelta(days=29)) == 0
    assert leads_retention_anonymise(now=timezone.now() + timedelta(days=31)) == 1


def test_a_second_run_does_nothing_and_batches_cover_every_lead(closed_lead):
    for number in ("+12025550180", "+12025550181", "+12025550182"):
        closed_lead(number)

    assert leads_retention_anonymise(now=timezone.now() + LATER, batch_size=2) == 3
    assert leads_retention_anonymise(now=timezone.now() + LATER, batch_size=2) == 0


def test_a_number_the_person_uses_again_keeps_its_new_messages(closed_lead, route):
    old = closed_lead("+12025550183")
    # The same person comes back with the same number: a new, open lead.
    again = submit_lead(phone="+12025550183")
    route(again)
    assert again.lead_id != old.pk
    notification_services.inbound_receive(
        provider_id="SM-new", sender="+12025550183", body="Is tomorrow fine?"
    )

    leads_retention_anonymise(now=timezone.now() + LATER)

    assert InboundMessage.objects.get(provider_id="SM-new").body == "Is tomorrow fine?"
    assert Message.objects.filter(correlation=f"lead:{again.lead_id}").exclude(recipient="")
    assert Lead.objects.get(pk=again.lead_id).phone_hash == phone_hash("+12025550183")
    assert Callback.objects.filter(lead_id=again.lead_id, status="open").exists()


def test_beat_runs_the_retention_task_every_night():
    entry = settings.CELERY_BEAT_SCHEDULE["anonymise-expired-leads"]
    assert entry["task"] == "intake.tasks.leads_retention_anonymise"
    assert intake_tasks.leads_retention_anonymise.name == entry["task"]
    assert entry["task"] in celery_app.tasks


def test_spam_attached_to_nobody_is_blanked_after_the_period():
    import time_machine

    from intake.services import leads_retention_anonymise

    old = submit_lead(first_name="Bot", email="bot@example.org", is_spam=True)
    recent_at = timezone.now() + timedelta(days=settings.RETENTION_DAYS + 1)
    with time_machine.travel(recent_at - timedelta(days=1)):
        recent = submit_lead(first_name="Bot", email="bot2@example.org", is_spam=True)

    with time_machine.travel(recent_at):
        leads_retention_anonymise()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.lead_id is None
    assert (old.first_name, old.email, str(old.phone), old.email_hash) == ("", "", "", "")
    assert recent.email == "bot2@example.org"  # not yet past the period
    assert Submission.objects.filter(is_spam=True).count() == 2  # kept, as counts
