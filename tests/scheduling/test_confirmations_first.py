"""Confirmations first: a new request's text and email go from the request alone, before
(and without) routing, exactly once whoever comes first: the confirmation task or
routing (issue 24, item 1)."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection, connections, transaction
from django.utils import timezone
from phonenumber_field.phonenumber import to_python

from clinic.crypto import phone_hash
from intake.models import Lead, Submission
from intake.services import lead_submit, submission_attach
from intake.signals import submission_received
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Message, OptOut, SmsConversation
from notifications.refusals import refusal_record
from scheduling import tasks
from scheduling.models import Callback
from scheduling.selectors.timeline import lead_timeline
from scheduling.services import confirmations
from tests.factories import ArticleFactory

_numbers = iter(range(4000, 9999))


def stored(**overrides: Any) -> Submission:
    """A request as the public POST leaves it: stored, not attached, not routed (the
    test's transaction never commits, so nothing is handed to the workers)."""
    number = next(_numbers)
    values: dict[str, Any] = {
        "first_name": "Maria",
        "phone": f"+1202555{number:04d}",
        "email": f"first{number}@example.org",
        "sms_consent": True,
        "article_slug": "science-behind-antidepressants",
        "ip_address": "203.0.113.9",
        "user_agent": "pytest",
    }
    values.update(overrides)
    if isinstance(values.get("phone"), str):
        values["phone"] = to_python(values["phone"])
    ArticleFactory(slug=values["article_slug"])
    submission = lead_submit(**values).submission
    submission.refresh_from_db()
    return submission


@pytest.fixture
def confirm(django_capture_on_commit_callbacks, monkeypatch):
    """The confirmation task, as a worker runs it (its after-commit work included). Its
    kick of the router is recorded (``run.kicks``), not run inline as eager mode would:
    the router is another worker's task."""
    kicks: list[bool] = []
    monkeypatch.setattr(tasks.services, "routing_kick", lambda **kwargs: kicks.append(True))

    def run(submission: Submission) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.submission_confirm(submission.pk)
        submission.refresh_from_db()

    run.kicks = kicks
    return run


def confirmation_texts(phone: Any) -> list[Message]:
    return list(
        Message.objects.filter(
            channel=Message.Channel.SMS,
            purpose=Message.Purpose.CONFIRMATION,
            recipient_hash=phone_hash(phone),
        )
    )


@pytest.mark.django_db
class TestBeforeRouting:
    def test_the_confirmation_task_sends_both_without_routing(self, sms_outbox, confirm):
        submission = stored(first_name="Jo")

        confirm(submission)

        assert submission.lead_id is None and submission.processed_at is None
        assert submission.confirmed_at is not None
        assert [sms.to for sms in sms_outbox] == [str(submission.phone)]
        assert "Jo" not in sms_outbox[0].body
        assert mail.outbox[0].to == [submission.email]
        # Handed to the provider by the task itself; the queued delivery found it done.
        messages = Message.objects.filter(correlation=f"submission:{submission.pk}")
        assert sorted(messages.values_list("status", flat=True)) == ["sent", "sent"]
        assert Callback.objects.count() == 0
        assert confirm.kicks == [True]  # the router may take it now

    def test_routing_after_the_confirmation_sends_nothing_more(self, sms_outbox, confirm, route):
        submission = stored()
        confirm(submission)

        callback = route(submission)

        assert callback is not None
        assert len(sms_outbox) == 1 and len(mail.outbox) == 1
        assert Message.objects.count() == 2

    def test_a_confirmation_after_routing_sends_nothing_more(self, sms_outbox, confirm, route):
        submission = stored()
        route(submission)
        assert len(sms_outbox) == 1 and len(mail.outbox) == 1

        confirm(submission)
        confirm(submission)  # and a redelivery

        assert len(sms_outbox) == 1 and len(mail.outbox) == 1
        assert Message.objects.count() == 2

    def test_a_redelivered_confirmation_task_sends_nothing_twice(self, sms_outbox, confirm):
        submission = stored()
        confirm(submission)
        claimed_at = submission.confirmed_at

        confirm(submission)

        assert submission.confirmed_at == claimed_at
        assert len(sms_outbox) == 1 and len(mail.outbox) == 1

    def test_a_redelivered_task_hands_over_what_its_first_run_left_unsent(
        self, sms_outbox, confirm
    ):
        submission = stored()
        # The worker died between recording the confirmations and sending them (and the
        # delivery tasks queued on commit were lost with the broker).
        confirmations.submission_confirm(submission_id=submission.pk)
        assert sms_outbox == []

        confirm(submission)

        assert len(sms_outbox) == 1 and len(mail.outbox) == 1

    def test_a_lost_confirmation_task_is_made_good_by_routing_from_the_sweep(
        self, sms_outbox, django_capture_on_commit_callbacks
    ):
        submission = stored()  # its hand-off never ran: the broker was down

        later = timezone.now() + settings.SUBMISSION_SWEEP_AFTER + timedelta(seconds=1)
        with (
            time_machine.travel(later, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            tasks.submissions_sweep()

        submission.refresh_from_db()
        assert submission.processed_at is not None and submission.confirmed_at is not None
        assert len(sms_outbox) == 1 and len(mail.outbox) == 1
        assert set(Message.objects.values_list("correlation", flat=True)) == {
            f"lead:{submission.lead_id}"
        }

    def test_spam_gets_nothing(self, sms_outbox, confirm, route):
        submission = stored(is_spam=True)

        confirm(submission)
        route(submission)

        assert submission.confirmed_at is None
        assert sms_outbox == [] and mail.outbox == []
        assert Message.objects.count() == 0


@pytest.mark.django_db
class TestTheRulesHoldBeforeRouting:
    def test_an_opted_out_number_gets_no_text(self, sms_outbox, confirm):
        OptOut.objects.create(
            phone="+12025553001", phone_hash=phone_hash("+12025553001"), source="inbound STOP"
        )
        submission = stored(phone="+12025553001")

        confirm(submission)

        assert sms_outbox == []
        (text,) = confirmation_texts("+12025553001")
        assert text.status == Message.Status.SUPPRESSED and text.error_code == "opted_out"
        assert len(mail.outbox) == 1

    def test_a_refused_number_and_address_get_nothing(self, sms_outbox, confirm):
        refusal_record(
            phone="+12025553002",
            email="refused@example.org",
            recorded_by_id=None,
            source="phone call",
        )
        submission = stored(phone="+12025553002", email="refused@example.org")

        confirm(submission)

        assert sms_outbox == [] and mail.outbox == []
        assert set(Message.objects.values_list("status", "error_code")) == {
            (Message.Status.SUPPRESSED, "refused")
        }

    def test_a_number_whose_earlier_request_said_no_gets_no_text(self, sms_outbox, confirm):
        earlier = stored(phone="+12025553003", sms_consent=False)
        with transaction.atomic():
            submission_attach(submission=earlier)  # in the consent ledger
        Submission.objects.filter(pk=earlier.pk).update(processed_at=timezone.now())
        submission = stored(phone="+12025553003", sms_consent=True)

        confirm(submission)

        assert sms_outbox == []
        assert confirmation_texts("+12025553003") == []
        assert len(mail.outbox) == 1

    def test_a_no_not_yet_routed_still_wins(self, sms_outbox, confirm):
        stored(phone="+12025553004", sms_consent=False)  # stored a moment ago, not routed
        submission = stored(phone="+12025553004", sms_consent=True)

        confirm(submission)

        assert sms_outbox == []
        assert confirmation_texts("+12025553004") == []

    def test_a_request_without_consent_gets_no_text(self, sms_outbox, confirm):
        submission = stored(sms_consent=False)

        confirm(submission)

        assert sms_outbox == []
        assert len(mail.outbox) == 1

    def test_one_text_per_number_and_one_email_per_address_a_day(self, sms_outbox, confirm):
        first = stored(phone="+12025553005", email="same@example.org")
        second = stored(phone="+12025553005", email="other@example.org")
        third = stored(phone="+12025553006", email="same@example.org")

        for submission in (first, second, third):
            confirm(submission)

        assert [sms.to for sms in sms_outbox] == ["+12025553005", "+12025553006"]
        assert sorted(message.to[0] for message in mail.outbox) == [
            "other@example.org",
            "same@example.org",
        ]
        # Each was decided, once: routing will not try again.
        assert all(
            Submission.objects.filter(pk__in=[first.pk, second.pk, third.pk]).values_list(
                "confirmed_at", flat=True
            )
        )

    def test_the_wording_is_discreet_for_a_number_whose_lead_asked_for_discretion(
        self, sms_outbox, confirm
    ):
        known = stored(phone="+12025553007", contact_preferences={"mention_clinic_ok": False})
        with transaction.atomic():
            submission_attach(submission=known)
        assert Lead.objects.get(pk=known.lead_id).mention_clinic_ok is False
        # A new request for that number, which says nothing of discretion, not attached yet.
        submission = stored(phone="+12025553007", email="new@example.org")
        assert submission.mention_clinic_ok is True
        Message.objects.all().delete()

        confirm(submission)

        (sms,) = sms_outbox
        assert settings.DISCREET_SENDER_NAME in sms.body
        assert settings.CLINIC_NAME not in sms.body
        # The address is not the lead's: its email names the clinic as usual.
        assert settings.CLINIC_NAME in mail.outbox[0].body

    def test_a_crisis_request_is_confirmed_in_crisis_wording_and_routed_urgent(
        self, sms_outbox, confirm, route
    ):
        submission = stored(in_crisis=True)

        confirm(submission)

        assert set(Message.objects.values_list("template", flat=True)) == {"confirmation_crisis"}
        assert "988" in sms_outbox[0].body
        callback = route(submission)
        assert callback.is_urgent
        assert len(sms_outbox) == 1


@pytest.mark.django_db
class TestCorrelation:
    def test_routing_moves_the_confirmations_to_the_lead(self, sms_outbox, confirm, route):
        submission = stored()
        confirm(submission)

        route(submission)

        submission.refresh_from_db()
        lead = submission.lead
        assert set(Message.objects.values_list("correlation", flat=True)) == {f"lead:{lead.pk}"}
        assert {entry.kind for entry in lead_timeline(lead=lead)} >= {"message"}
        thread = SmsConversation.objects.get(phone_hash=submission.phone_hash)
        assert thread.lead_id == lead.pk

    def test_erasing_the_lead_erases_a_confirmation_sent_before_routing(
        self, sms_outbox, confirm, route
    ):
        submission = stored()
        confirm(submission)
        route(submission)
        submission.refresh_from_db()

        notification_services.messages_erase(correlation=f"lead:{submission.lead_id}")

        assert set(Message.objects.values_list("recipient", "body")) == {("", "")}

    def test_an_undelivered_text_before_routing_falls_back_to_email_moved_with_the_rest(
        self, sms_outbox, confirm, route, django_capture_on_commit_callbacks
    ):
        submission = stored()
        confirm(submission)
        (text,) = confirmation_texts(submission.phone)
        with django_capture_on_commit_callbacks(execute=True):
            notification_services.message_status_record(
                provider_id=text.provider_id, status="undelivered", error_code="30005"
            )
        assert len(mail.outbox) == 2  # the confirmation and its fallback

        route(submission)

        submission.refresh_from_db()
        assert set(Message.objects.values_list("correlation", flat=True)) == {
            f"lead:{submission.lead_id}"
        }


@pytest.mark.django_db
def test_a_new_request_is_confirmed_before_it_is_routed(routed_api_client, sms_outbox):
    ArticleFactory(slug="science-behind-antidepressants")

    response = routed_api_client.post(
        "/api/v1/leads/",
        {
            "first_name": "Maria",
            "phone": "+12025553010",
            "email": "maria@example.org",
            "sms_consent": True,
            "article": "science-behind-antidepressants",
        },
        format="json",
    )

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert submission.confirmed_at <= submission.processed_at
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1
    assert set(Message.objects.values_list("correlation", flat=True)) == {
        f"lead:{submission.lead_id}"
    }


# --- Concurrency, on PostgreSQL with real connections ------------------------------------


@pytest.fixture
def handoff_off():
    """Requests stored for real (committed) without the after-commit hand-off, so the
    test decides who confirms them and when."""
    submission_received.disconnect(dispatch_uid="scheduling.submission_received")
    yield
    from scheduling.receivers import on_submission_received

    submission_received.connect(
        on_submission_received, dispatch_uid="scheduling.submission_received"
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_confirmations_for_one_number_send_one_text(handoff_off, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, there is no race to test")
    first = stored(phone="+12025553020", email="")
    second = stored(phone="+12025553020", email="")
    # Each confirmation, once it has looked for today's text, waits (briefly) for the
    # other to have looked too: without the per-number lock both find none and both send.
    looked = threading.Barrier(2, timeout=1)
    checked = notification_selectors.message_sent_recently

    def check_then_wait(**kwargs: Any) -> bool:
        found = checked(**kwargs)
        # Broken when the other is held by the lock: the point of it.
        with contextlib.suppress(threading.BrokenBarrierError):
            looked.wait()
        return found

    monkeypatch.setattr(notification_selectors, "message_sent_recently", check_then_wait)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def confirm(submission_id: int) -> None:
        try:
            start.wait()
            confirmations.submission_confirm(submission_id=submission_id)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=confirm, args=(s.pk,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(confirmation_texts("+12025553020")) == 1
    # Both were decided: routing will not send either again.
    assert Submission.objects.filter(confirmed_at__isnull=True).count() == 0
