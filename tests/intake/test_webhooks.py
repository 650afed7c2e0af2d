"""Outbound webhooks of a lead's stage changes (``intake.services.webhooks`` and
``webhook_delivery``), sent by the real ``requests`` client to a local HTTP server:
signed over the exact body, retried with backoff under the same event id, never with
personal data, with screening scores only for a covered endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from intake.models import SCREENING_READ, Lead, Screening, WebhookDelivery
from intake.services import (
    INSURANCE_VERIFIED,
    SCREENED,
    WAITLISTED,
    lead_reopen,
    lead_stage_advance,
    lead_stage_reach,
    screening_check,
    webhook_deliver,
    webhook_redeliver,
)
from intake.services.webhook_delivery import retry_wait
from intake.tasks import webhooks_sweep
from scheduling.services import lead_screening_record
from tests.factories import UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

SECRET = "s3cret-of-the-clinic-webhooks-0123456789"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local endpoint: answers each POST with the next of ``answers`` (the last one
    repeats), each (status, headers, delay in seconds), and keeps what it got."""

    url: str
    answers: list[tuple[int, dict[str, str], float]] = field(
        default_factory=lambda: [(200, {}, 0.0)]
    )
    received: list[Received] = field(default_factory=list)

    def answer(self, *answers: tuple[int, dict[str, str], float]) -> None:
        self.answers = list(answers)


def _serve() -> tuple[ThreadingHTTPServer, Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = holder["receiver"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            index = min(len(receiver.received), len(receiver.answers)) - 1
            status, headers, delay = receiver.answers[index]
            if delay:
                time.sleep(delay)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    receiver = Receiver(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    holder["receiver"] = receiver
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd, receiver


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def make() -> Receiver:
        httpd, receiver = _serve()
        servers.append(httpd)
        return receiver

    yield make
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def emr(receivers, settings) -> Receiver:
    """One endpoint, not a covered system."""
    receiver = receivers()
    settings.WEBHOOK_ENDPOINTS = [{"url": f"{receiver.url}/emr", "covered": False}]
    settings.WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    return receiver


@pytest.fixture
def lead() -> Lead:
    submission = submit_lead(
        first_name="Rosalind",
        last_name="Quill",
        email="rosalind.quill@example.org",
        message="I have been feeling low since spring",
    )
    return Lead.objects.get(pk=submission.lead_id)


def _verify(received: Received, secret: str = SECRET) -> bool:
    """What a receiver does: HMAC-SHA256 over "<timestamp>.<raw body>"."""
    timestamp = received.headers["X-Clinic-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256)
    return hmac.compare_digest(
        received.headers["X-Clinic-Signature"], "sha256=" + expected.hexdigest()
    )


def _advance(lead: Lead, stage: str, capture, **kwargs) -> None:
    with capture(execute=True):  # the on-commit hand-off, run inline (eager Celery)
        lead_stage_advance(lead_id=lead.pk, stage=stage, **kwargs)


def test_an_admitted_lead_is_sent_signed_over_the_exact_body(
    emr, lead, django_capture_on_commit_callbacks
):
    _advance(lead, Lead.Stage.ADMITTED, django_capture_on_commit_callbacks, appointment_id=41)

    (received,) = emr.received
    body = json.loads(received.body)
    delivery = WebhookDelivery.objects.get()
    assert received.path == "/emr"
    assert received.headers["Content-Type"] == "application/json"
    assert _verify(received)
    assert not _verify(received, secret=SECRET + "x")
    # The timestamp is part of what is signed: the same signature under another fails.
    replayed = Received(
        received.path,
        {**received.headers, "X-Clinic-Timestamp": str(int(time.time()) + 999)},
        received.body,
    )
    assert not _verify(replayed)
    assert received.headers["X-Clinic-Event-Id"] == body["id"] == str(delivery.event_id)
    assert body["type"] == "lead.stage_reached"
    assert body["stage"] == "admitted"
    assert body["lead"] == {"id": lead.pk, "reference": lead.submissions.get().reference}
    assert "article" not in body  # what the person read says what they may be treated for
    assert body["appointment"] == {"id": 41}
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 200, "")


def test_every_stage_change_and_step_is_sent_but_contacting_is_not(
    emr, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CONTACTING)
        lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CONTACTED)
        lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CONTACTED)  # no change
        for step in (SCREENED, INSURANCE_VERIFIED, WAITLISTED, WAITLISTED):
            lead_stage_reach(lead_id=lead.pk, stage=step)
        lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CLOSED, reason="went elsewhere")
        lead_reopen(lead_id=lead.pk, stage=Lead.Stage.CONTACTED)

    sent = [json.loads(received.body) for received in emr.received]
    assert [(event["type"], event["stage"]) for event in sent] == [
        ("lead.stage_reached", "contacted"),
        ("lead.stage_reached", "screened"),
        ("lead.stage_reached", "insurance_verified"),
        ("lead.stage_reached", "waitlisted"),
        ("lead.stage_reached", "closed"),
        ("lead.reopened", "contacted"),
    ]
    assert len({event["id"] for event in sent}) == 6
    assert all(_verify(received) for received in emr.received)


def test_a_payload_to_an_endpoint_not_covered_carries_no_personal_or_clinical_data(
    emr, lead, coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead_screening_record(
            lead_id=lead.pk,
            request=screening_check(instrument="phq9", answers=[2] * 8 + [0]),
            user_id=coordinator.pk,
        )
        lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.CLOSED, reason="moved to Ohio")

    assert len(emr.received) == 2
    for received in emr.received:
        text = received.body.decode()
        body = json.loads(text)
        assert set(body) == {"id", "type", "lead", "stage", "at", "appointment"}
        assert set(body["lead"]) == {"id", "reference"}
        for secret in ("Rosalind", "Quill", "rosalind", "feeling low", "+1202", "Ohio",
                       "moderately", "score", "band", "screenings", "answers"):  # fmt: skip
            assert secret not in text
    # Nothing clinical was read for it either.
    assert not Screening.objects.get().events.filter(pgh_label=SCREENING_READ).exists()


def test_a_covered_endpoint_also_gets_the_latest_scores_and_bands(
    receivers, settings, lead, coordinator, django_capture_on_commit_callbacks
):
    plain, covered = receivers(), receivers()
    settings.WEBHOOK_ENDPOINTS = [
        {"url": f"{plain.url}/crm", "covered": False},
        {"url": f"{covered.url}/emr", "covered": True},
    ]
    settings.WEBHOOK_SECRET = SECRET
    with django_capture_on_commit_callbacks(execute=True):
        for instrument, answers in [("phq9", [1] * 8 + [0]), ("phq9", [2] * 8 + [0])]:
            lead_screening_record(
                lead_id=lead.pk,
                request=screening_check(instrument=instrument, answers=answers),
                user_id=coordinator.pk,
            )
        lead_screening_record(
            lead_id=lead.pk,
            request=screening_check(instrument="gad7", answers=[0] * 7),
            user_id=coordinator.pk,
        )
        lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.ADMITTED)

    # One "screened" (the first screening) and one "admitted", to each endpoint.
    assert [json.loads(r.body)["stage"] for r in plain.received] == ["screened", "admitted"]
    plain_admitted = json.loads(plain.received[1].body)
    screened, admitted = (json.loads(r.body) for r in covered.received)
    assert "screenings" not in plain_admitted
    assert "article" not in plain_admitted
    assert admitted["id"] == plain_admitted["id"]  # one event, one id, two endpoints
    assert admitted["article"] == "science-behind-antidepressants"
    covered_only = {"screenings", "article"}
    assert {k: v for k, v in admitted.items() if k not in covered_only} == plain_admitted
    assert [(s["instrument"], s["score"], s["band"]) for s in admitted["screenings"]] == [
        ("gad7", 0, "minimal"),
        ("phq9", 16, "moderately_severe"),
    ]
    # As of the event: the "screened" event carries the first screening's score only.
    assert [(s["instrument"], s["score"]) for s in screened["screenings"]] == [("phq9", 8)]
    assert "answers" not in covered.received[1].body.decode()
    reads = [
        event.pgh_context
        for screening in Screening.objects.all()
        for event in screening.events.filter(pgh_label=SCREENING_READ)
    ]
    assert reads and all(read["read"] == "webhook" for read in reads)
    assert all(_verify(received) for received in covered.received)


def test_a_500_is_retried_with_backoff_under_the_same_event_id(
    emr, lead, django_capture_on_commit_callbacks
):
    emr.answer((500, {}, 0.0), (503, {}, 0.0), (200, {}, 0.0))
    _advance(lead, Lead.Stage.CONTACTED, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    first_due = delivery.next_attempt_at
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500"
    # Counted from the end of the try.
    assert timedelta(seconds=30) <= first_due - delivery.last_attempt_at < timedelta(seconds=31)

    assert webhook_deliver(delivery_id=delivery.pk).result == "skipped"  # not due yet
    with time_machine.travel(first_due + timedelta(seconds=1), tick=True):
        assert webhook_deliver(delivery_id=delivery.pk).result == "retry"
        delivery.refresh_from_db()
        second_due = delivery.next_attempt_at
        waited = second_due - delivery.last_attempt_at
        assert timedelta(seconds=60) <= waited < timedelta(seconds=61)  # doubled
    with time_machine.travel(second_due + timedelta(seconds=1), tick=True):
        assert webhook_deliver(delivery_id=delivery.pk).result == "delivered"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert len(emr.received) == 3
    assert len({r.headers["X-Clinic-Event-Id"] for r in emr.received}) == 1
    assert len({r.body for r in emr.received}) == 1  # the same bytes every time
    assert all(_verify(received) for received in emr.received)


def test_a_timeout_is_retried_and_the_tries_end_as_failed(
    emr, lead, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    emr.answer((200, {}, 0.6))
    _advance(lead, Lead.Stage.CONTACTED, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_error, delivery.last_status_code) == (
        "pending",
        "timed out",
        None,
    )

    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=True):
        assert webhook_deliver(delivery_id=delivery.pk).result == "failed"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert len({r.headers["X-Clinic-Event-Id"] for r in emr.received}) == 1
    # An admin sends it again: the same event, pending at once.
    assert webhook_redeliver(delivery_id=delivery.pk) is True
    emr.answer((200, {}, 0.0))
    assert webhook_deliver(delivery_id=delivery.pk).result == "delivered"
    assert {r.headers["X-Clinic-Event-Id"] for r in emr.received} == {str(delivery.event_id)}


def test_the_backoff_doubles_and_stops_at_its_cap(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    assert [retry_wait(n).total_seconds() for n in (1, 2, 3, 7, 8, 20)] == [
        30,
        60,
        120,
        1920,
        3600,
        3600,
    ]


def test_a_refusal_is_not_retried(emr, lead, django_capture_on_commit_callbacks):
    emr.answer((422, {}, 0.0))
    _advance(lead, Lead.Stage.CONTACTED, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == (
        "failed",
        422,
        "HTTP 422",
    )


def test_a_redirect_is_followed_to_the_same_host_only(
    emr, receivers, lead, django_capture_on_commit_callbacks
):
    elsewhere = receivers()
    # Same host: 127.0.0.1 -> 127.0.0.1, the POST kept (307).
    emr.answer((307, {"Location": "/emr/v2"}, 0.0), (200, {}, 0.0))
    _advance(lead, Lead.Stage.CONTACTED, django_capture_on_commit_callbacks)
    assert [r.path for r in emr.received] == ["/emr", "/emr/v2"]
    assert WebhookDelivery.objects.get().status == "delivered"

    # Another host (another port): refused, and no retry will change that.
    emr.received.clear()
    emr.answer((308, {"Location": f"{elsewhere.url}/steal"}, 0.0))
    _advance(lead, Lead.Stage.CONSULT_BOOKED, django_capture_on_commit_callbacks)
    refused = WebhookDelivery.objects.get(stage="consult_booked")
    assert refused.status == "failed"
    assert refused.last_error == "HTTP 308: redirect to another host refused"
    assert elsewhere.received == []


def test_the_sweep_sends_a_delivery_whose_task_was_lost(emr, lead):
    # No on-commit hand-off ran (the broker was down): the delivery waits in the table.
    lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.ADMITTED)
    assert emr.received == []

    assert webhooks_sweep() == 1
    assert webhooks_sweep() == 0  # delivered once

    assert WebhookDelivery.objects.get().status == "delivered"
    assert len(emr.received) == 1


def test_a_try_in_progress_is_not_taken_by_the_sweep_until_its_lease_passes(emr, lead):
    lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.ADMITTED)
    delivery = WebhookDelivery.objects.get()
    # A worker claimed it and died before recording the answer.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=40)
    )

    assert webhooks_sweep() == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=41), tick=True):
        assert webhooks_sweep() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_an_endpoint_no_longer_configured_fails_its_deliveries(emr, lead, settings):
    lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.ADMITTED)
    settings.WEBHOOK_ENDPOINTS = []

    assert webhooks_sweep() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("failed", "endpoint no longer configured")
    assert emr.received == []


def test_admins_read_the_delivery_log_and_cannot_change_it(emr, lead):
    lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.ADMITTED)
    webhooks_sweep()
    delivery = WebhookDelivery.objects.get()
    admin = UserFactory(username="webhook-admin", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    client = Client()
    verified_login(client, admin)

    listing = client.get("/admin/intake/webhookdelivery/")
    page = client.get(f"/admin/intake/webhookdelivery/{delivery.pk}/change/")

    assert listing.status_code == 200 and str(delivery.event_id) in listing.content.decode()
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert "Rosalind" not in listing.content.decode() + page.content.decode()
    assert client.get("/admin/intake/webhookdelivery/add/").status_code == 403


def test_other_roles_do_not_see_the_delivery_log(coordinator, marketer):
    for user in (coordinator, marketer):
        client = Client()
        verified_login(client, user)
        assert client.get("/admin/intake/webhookdelivery/").status_code in (302, 403)


def test_a_url_configured_twice_is_one_endpoint(emr, lead, settings):
    settings.WEBHOOK_ENDPOINTS = [*settings.WEBHOOK_ENDPOINTS, *settings.WEBHOOK_ENDPOINTS]

    lead_stage_advance(lead_id=lead.pk, stage=Lead.Stage.ADMITTED)

    assert WebhookDelivery.objects.count() == 1
