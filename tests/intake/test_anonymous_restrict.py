"""Anonymous forms, and links sent to addresses nobody verified, can only restrict.

A stranger who knows a patient's phone number or email can fill in the public form.
Nothing they send may lift an opt-out, relax discretion, graft their contact details
onto the patient's lead, cancel the patient's request, or tell them whether the
number or address is known (issue 12, findings 1 to 3)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from intake.models import Article, Lead, Submission
from notifications import services as notification_services
from notifications.models import Message, OptOut
from scheduling.models import Callback

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
VICTIM_PHONE = "+12025550143"
VICTIM_EMAIL = "maria.lopez@example.org"
PROBER_PHONE = "+12025550188"
PROBER_EMAIL = "prober@example.net"


def body(**overrides):
    values = {
        "first_name": "Maria",
        "phone": VICTIM_PHONE,
        "email": VICTIM_EMAIL,
        "sms_consent": True,
        "article": "science-behind-antidepressants",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


@pytest.fixture
def submit(api_client, django_capture_on_commit_callbacks):
    """POST the form from its own address and let the worker do its part, as it would."""
    counter = iter(range(1, 250))

    def run(**overrides):
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(
                URL, body(**overrides), format="json", REMOTE_ADDR=f"198.51.100.{next(counter)}"
            )
        assert response.status_code == 201, response.content
        return Submission.objects.get(reference=response.json()["reference"])

    return run


@pytest.fixture
def victim(submit):
    """A patient who asked for discretion, no voicemail, and later texted STOP."""
    submission = submit(contact_preferences={"mention_clinic_ok": False})
    notification_services.opt_out_record(phone=VICTIM_PHONE, source="sms")
    mail.outbox.clear()
    Message.objects.all().delete()
    return Lead.objects.get(pk=submission.lead_id)


def emails_to(address):
    return [message for message in mail.outbox if message.to == [address]]


def manage_path(message):
    match = re.search(r"https?://[^/\s]+(/r/[^\s\"<]+/)", message.body)
    assert match, message.body
    return match.group(1)


# --- 1. An unverified email does not take over a lead ---------------------------------


def test_an_anonymous_email_is_not_grafted_onto_a_known_lead_without_one(submit, sms_outbox):
    first = submit(email=None)
    submit(email=PROBER_EMAIL)

    lead = Lead.objects.get(pk=first.lead_id)
    assert lead.email == ""
    assert lead.submissions.count() == 2


def test_an_anonymous_phone_is_not_grafted_onto_a_known_lead_without_one(submit):
    first = submit(phone=None)
    submit(phone=PROBER_PHONE)

    lead = Lead.objects.get(pk=first.lead_id)
    assert str(lead.phone) == ""
    assert lead.submissions.count() == 2


def test_a_later_form_does_not_change_a_known_leads_channel_time_or_zone(submit):
    first = submit(preferred_channel="email", best_time="evening", timezone="America/Denver")
    later = submit(preferred_channel="call", best_time="morning", timezone="Pacific/Honolulu")

    lead = Lead.objects.get(pk=first.lead_id)
    assert (lead.preferred_channel, lead.best_time, lead.timezone) == (
        "email",
        "evening",
        "America/Denver",
    )
    # What the later form asked for is kept on it, for a coordinator to confirm.
    assert (later.preferred_channel, later.best_time, later.timezone) == (
        "call",
        "morning",
        "Pacific/Honolulu",
    )


def test_the_link_in_a_probers_email_cannot_lift_a_stop_or_relax_discretion(submit, victim, client):
    submit(email=PROBER_EMAIL, contact_preferences={"mention_clinic_ok": True})
    (email,) = emails_to(PROBER_EMAIL)
    path = manage_path(email)

    page = client.get(path)
    assert page.status_code == 200
    client.post(
        path,
        {
            "action": "preferences",
            "texts_ok": "on",
            "voicemail_ok": "on",
            "mention_clinic_ok": "on",
        },
    )

    victim.refresh_from_db()
    assert OptOut.objects.filter(phone=VICTIM_PHONE).exists()
    assert (victim.voicemail_ok, victim.mention_clinic_ok) == (False, False)


def test_the_link_in_a_probers_email_cancels_only_the_probers_submission(submit, victim, client):
    prober = submit(email=PROBER_EMAIL)
    (email,) = emails_to(PROBER_EMAIL)

    client.post(manage_path(email), {"action": "cancel_confirmed"})

    victim.refresh_from_db()
    assert victim.stage != Lead.Stage.CLOSED
    assert Callback.objects.filter(lead=victim, status="open").count() == 1
    prober.refresh_from_db()
    assert prober.cancelled_at is not None


def test_a_link_can_make_contact_more_discreet_and_stop_texts(submit, client):
    submission = submit()
    (email,) = emails_to(VICTIM_EMAIL)
    path = manage_path(email)

    client.post(path, {"action": "restrict", "no_clinic_name": "on", "stop_texts": "on"})

    lead = Lead.objects.get(pk=submission.lead_id)
    assert lead.mention_clinic_ok is False
    assert OptOut.objects.filter(phone=VICTIM_PHONE).exists()


def test_cancelling_the_persons_only_request_closes_their_lead(submit, client):
    submission = submit()
    (email,) = emails_to(VICTIM_EMAIL)

    client.post(manage_path(email), {"action": "cancel_confirmed"})

    lead = Lead.objects.get(pk=submission.lead_id)
    assert lead.stage == Lead.Stage.CLOSED
    assert Callback.objects.get(lead=lead).status == Callback.Status.CANCELLED


def test_the_link_page_shows_nothing_of_the_leads_state(submit, victim, client):
    submit(email=PROBER_EMAIL)
    (email,) = emails_to(PROBER_EMAIL)

    page = client.get(manage_path(email)).content.decode()

    # The victim's opt-out and discretion are theirs: the page shows the same controls,
    # unticked, as it would for a stranger's own new request.
    assert "checked" not in page
    assert "Maria" not in page


def test_a_link_expires(submit, client):
    submit()
    (email,) = emails_to(VICTIM_EMAIL)
    path = manage_path(email)

    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert client.get(path).status_code == 404


def test_a_link_is_bound_to_the_address_it_was_sent_to(submit, client):
    submission = submit()
    (email,) = emails_to(VICTIM_EMAIL)
    path = manage_path(email)
    Submission.objects.filter(pk=submission.pk).update(email="someone-else@example.org")

    assert client.get(path).status_code == 404


def test_a_revoked_link_no_longer_opens(submit, client):
    from scheduling.services import submission_links_revoke

    submission = submit()
    (email,) = emails_to(VICTIM_EMAIL)
    path = manage_path(email)

    submission_links_revoke(submission_id=submission.pk)

    assert client.get(path).status_code == 404


def test_an_old_lead_wide_link_no_longer_opens(submit, client):
    from django.core import signing

    submission = submit()
    token = signing.dumps(
        {"lead": submission.lead_id}, salt="scheduling.request-manage", compress=True
    )

    assert client.get(f"/r/{token}/").status_code == 404


# --- 2. Side effects do not reveal a known number or address ---------------------------


def _effects(outbox, sms_outbox):
    emails = [(m.to, m.subject, re.sub(r"/r/[^\s\"<]+/", "/r/T/", m.body)) for m in outbox]
    texts = [(m.to, m.body) for m in sms_outbox]
    return emails, texts


def test_a_prober_with_a_known_phone_gets_the_same_email_as_with_an_unknown_one(
    submit, victim, sms_outbox
):
    submit(email=PROBER_EMAIL, first_name="Pat")
    known = _effects(emails_to(PROBER_EMAIL), [])
    mail.outbox.clear()

    submit(phone="+12025550100", email=PROBER_EMAIL.replace("prober", "prober2"), first_name="Pat")
    unknown = _effects(emails_to(PROBER_EMAIL.replace("prober", "prober2")), [])

    assert len(known[0]) == len(unknown[0]) == 1
    (known_email,), (unknown_email,) = known[0], unknown[0]
    assert known_email[1:] == unknown_email[1:]
    assert emails_to(VICTIM_EMAIL) == []


def test_a_prober_with_a_known_email_gets_the_same_text_as_with_an_unknown_one(
    submit, victim, sms_outbox
):
    submit(phone=PROBER_PHONE, email=VICTIM_EMAIL, first_name="Pat")
    known = [m.body for m in sms_outbox if m.to == PROBER_PHONE]
    sms_outbox.clear()

    submit(phone="+12025550101", email="nobody-known@example.org", first_name="Pat")
    unknown = [m.body for m in sms_outbox if m.to == "+12025550101"]

    assert len(known) == len(unknown) == 1
    assert known == unknown


def test_the_per_phone_limit_answers_like_any_other_request(api_client, settings, submit):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "lead_submit_phone": "2/hour",
        },
    }
    submit()
    submit()
    # Someone else now uses the same number: the answer is the ordinary 201.
    response = api_client.post(URL, body(first_name="Pat"), format="json", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 201
    assert set(response.json()) == {"reference", "status", "callback_window", "next_contact"}


# --- 3. The clinic relays no attacker's text -------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "your results: evil.example",
        "Visit http://evil.example",
        "www.evil.example",
        "Call 900 555 0100",
        "<b>Maria</b>",
        "Maria@evil",
    ],
)
def test_a_first_name_with_a_link_digits_or_markup_is_a_field_error(api_client, name):
    response = api_client.post(URL, body(first_name=name), format="json")

    assert response.status_code == 400
    assert "first_name" in response.json()["fields"]


@pytest.mark.parametrize("name", ["Zoë", "José-Luis", "O'Brien", "Anne Marie", "St. John", "李"])
def test_real_names_are_accepted(api_client, name):
    response = api_client.post(URL, body(first_name=name), format="json")

    assert response.status_code == 201


def test_a_name_that_names_health_information_is_left_out_of_every_message(submit, sms_outbox):
    submit(first_name="Ketamine")

    assert len(sms_outbox) == 1 and len(mail.outbox) == 1
    for text in (sms_outbox[0].body, mail.outbox[0].subject, mail.outbox[0].body):
        assert "etamine" not in text
    # Issue 20: a confirmation greets nobody by name at all (it used to say "Hi there,").
    assert sms_outbox[0].body.startswith("Hi, this is ")


def test_an_email_only_address_gets_one_confirmation_a_day(submit):
    for _ in range(3):
        submit(phone=None, email="flooded@example.org")

    assert len(emails_to("flooded@example.org")) == 1
    assert Submission.objects.filter(email="flooded@example.org").count() == 3


def test_an_unknown_article_slug_creates_no_article(submit):
    submission = submit(article="utm-someone-at-example-org")

    assert submission.article_id is None
    assert not Article.objects.filter(slug="utm-someone-at-example-org").exists()
