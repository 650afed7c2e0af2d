"""POST a lead; a real worker on Redis confirms it and queues the callback."""

from __future__ import annotations

import time
from datetime import time as clock

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import OpeningHours
from intake.models import Submission
from notifications.models import Message
from scheduling.models import Callback, StaffAlert
from tests.factories import UserFactory
from tests.signin import verified_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(condition, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def lead_correlation(submission: Submission) -> str:
    """The worker attaches the submission to its lead: read it afresh."""
    submission.refresh_from_db()
    return f"lead:{submission.lead_id}"


def test_a_posted_lead_is_confirmed_and_queued_within_ten_seconds(real_worker, fake_twilio):
    started = time.monotonic()
    response = APIClient().post(
        "/api/v1/leads/",
        {
            "first_name": "Maria",
            "phone": "+12025550143",
            "email": "maria@example.org",
            "sms_consent": True,
            "article": "science-behind-antidepressants",
        },
        format="json",
    )
    assert response.status_code == 201
    submission = Submission.objects.get(reference=response.json()["reference"])

    def confirmed() -> bool:
        # The worker attaches the lead; the messages are correlated with it.
        lead_id = Submission.objects.values_list("lead_id", flat=True).get(pk=submission.pk)
        sent = Message.objects.filter(correlation=f"lead:{lead_id}", status=Message.Status.SENT)
        return sent.count() == 2 and Callback.objects.filter(submission=submission).exists()

    assert wait_for(confirmed, timeout=10), list(
        Message.objects.values_list("channel", "status", "error_code")
    )
    elapsed = time.monotonic() - started
    submission.refresh_from_db()
    correlation = f"lead:{submission.lead_id}"
    channels = set(
        Message.objects.filter(correlation=correlation).values_list("channel", flat=True)
    )
    assert channels == {"sms", "email"}
    assert all(provider_id for provider_id in Message.objects.values_list("provider_id", flat=True))
    submission.refresh_from_db()
    assert submission.processed_at is not None
    assert elapsed < 10
    (sms,) = fake_twilio.creates
    assert sms.form["To"] == "+12025550143"
    assert sms.form["Body"].startswith("Hi, this is ")  # the form's name is not relayed


def test_a_burst_of_leads_gets_exactly_one_callback_and_one_sms_each(real_worker, fake_twilio):
    client = APIClient()
    references = []
    for index in range(20):
        response = client.post(
            "/api/v1/leads/",
            {"first_name": "Sam", "phone": f"+1202555{2000 + index:04d}", "sms_consent": True},
            format="json",
        )
        assert response.status_code == 201
        references.append(response.json()["reference"])

    def all_sent_and_routed() -> bool:
        # The texts go first (the confirmations' own task), routing follows.
        return (
            Message.objects.filter(channel="sms", status=Message.Status.SENT).count() == 20
            and Callback.objects.count() == 20
        )

    assert wait_for(all_sent_and_routed, timeout=20)
    assert Callback.objects.count() == 20
    assert Message.objects.count() == 20
    assert sorted(c.form["To"] for c in fake_twilio.creates) == sorted(
        f"+1202555{2000 + index:04d}" for index in range(20)
    )
    assert Submission.objects.filter(processed_at__isnull=True).count() == 0


def test_a_crisis_lead_gets_988_in_both_messages_is_due_now_and_opens_with_the_banner(
    real_worker, fake_twilio, client
):
    # Open only on another day: a routine request now would wait for days. (A worker
    # may still remember the hours for up to 30 s; the unit tests cover closed hours.)
    OpeningHours.objects.create(
        weekday=(timezone.localdate().weekday() + 3) % 7, opens_at=clock(9), closes_at=clock(10)
    )
    response = APIClient().post(
        "/api/v1/leads/",
        {
            "first_name": "Alex",
            "phone": "+12025550144",
            "email": "alex@example.org",
            "sms_consent": True,
            "message": "I want to end my life",
        },
        format="json",
    )
    assert response.status_code == 201
    submission = Submission.objects.get(reference=response.json()["reference"])

    def confirmed() -> bool:
        sent = Message.objects.filter(
            correlation=lead_correlation(submission), status=Message.Status.SENT
        )
        return sent.count() == 2 and Callback.objects.filter(lead_id=submission.lead_id).exists()

    assert wait_for(confirmed, timeout=10), list(
        Message.objects.values_list("channel", "status", "error_code")
    )
    correlation = lead_correlation(submission)
    for message in Message.objects.filter(correlation=correlation):
        assert "988" in message.body and "911" in message.body, message.channel
    (sms,) = fake_twilio.creates
    assert "988" in sms.form["Body"]
    callback = Callback.objects.get(lead_id=submission.lead_id)
    assert callback.is_urgent
    assert callback.due_at == submission.created_at <= timezone.now()
    assert StaffAlert.objects.filter(
        callback=callback, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR
    ).exists()

    coordinator = UserFactory(username="e2e-coordinator")
    coordinator.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    verified_login(client, coordinator)
    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    assert html.index('class="crisis-banner"') < html.index("Log the call")
    assert "I want to end my life" in html
