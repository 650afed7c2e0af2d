"""Limits count mailboxes, not spellings (issue 20, item 3).

"Dana.Smith+x@GoogleMail.com" and "danasmith@gmail.com" reach the same inbox. A
prober or a harasser who respells an address must meet the same per-address limit,
the same one-confirmation-a-day rule and the same lead as the plain spelling."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from clinic.crypto import email_hash, lookup_hash, mailbox_canonical
from intake.models import Lead, Submission
from scheduling import links

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
PLAIN = "danasmith@gmail.com"
RESPELLED = "Dana.Smith+x@GoogleMail.com"


@pytest.fixture
def submit(api_client, django_capture_on_commit_callbacks):
    """POST the form (email only) from its own address, then the worker's part."""
    counter = iter(range(1, 250))

    def run(email, **overrides):
        body = {"first_name": "Dana", "email": email, "article": "an-article", **overrides}
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(
                URL, body, format="json", REMOTE_ADDR=f"198.51.100.{next(counter)}"
            )
        assert response.status_code == 201, response.content
        return Submission.objects.get(reference=response.json()["reference"])

    return run


def _rates(settings, **rates):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


# --- One spelling per mailbox -----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "same_as"),
    [
        ("Dana.Smith+x@GoogleMail.com", "danasmith@gmail.com"),
        ("d.a.n.a.smith@gmail.com.", "danasmith@gmail.com"),
        ("DANA+newsletter@Example.ORG", "dana@example.org"),
        ("  dana@example.org ", "dana@example.org"),
        ("jose@Bücher.example", "jose@xn--bcher-kva.example"),
        ("jose@XN--BCHER-KVA.EXAMPLE.", "jose@xn--bcher-kva.example"),
        ("jose@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "jose@example.com"),  # full width
    ],
)
def test_respellings_of_one_mailbox_are_one_mailbox(typed, same_as):
    assert mailbox_canonical(typed) == mailbox_canonical(same_as) == same_as
    assert email_hash(typed) == email_hash(same_as)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("dana.smith@example.org", "danasmith@example.org"),  # dots matter outside Gmail
        ("dana@gmail.com", "dana@gmail.co"),
        ("jose@straße.de", "jose@strasse.de"),  # two domains under IDNA 2008
        ("+tag@example.org", "@example.org"),
    ],
)
def test_different_mailboxes_stay_different(one, other):
    assert email_hash(one) != email_hash(other)


# --- The attacks ------------------------------------------------------------------------


def test_a_respelled_address_does_not_dodge_the_per_address_limit(submit, settings):
    _rates(settings, lead_submit_email="1/hour")
    submit(PLAIN)
    mail.outbox.clear()

    respelled = submit(RESPELLED)

    assert respelled.email_limited is True
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (RESPELLED, PLAIN),
        (PLAIN, RESPELLED),
        ("jose@bücher.example", "Jose+1@XN--BCHER-KVA.example"),
    ],
)
def test_respelled_addresses_get_one_confirmation_a_day_between_them(submit, first, second):
    submit(first)
    submit(second)

    assert len(mail.outbox) == 1
    assert Submission.objects.count() == 2  # both kept; only the second email held back


def test_a_respelled_address_finds_the_same_lead(submit):
    first = submit(PLAIN)
    second = submit(RESPELLED, first_name="Dana")

    assert first.lead_id == second.lead_id
    assert Lead.objects.count() == 1


def test_the_address_is_stored_and_mailed_as_given_not_as_its_canonical_spelling(submit):
    submission = submit(RESPELLED)

    assert submission.email == RESPELLED.lower()
    assert Lead.objects.get().email == RESPELLED.lower()
    assert mail.outbox[0].to == [RESPELLED.lower()]


# --- Links issued before mailboxes were canonical --------------------------------------


def test_a_request_link_issued_before_the_upgrade_still_opens(submit, client):
    submission = submit(RESPELLED)
    # The binding such a link carries: the hash of the lower-cased address.
    issued_before = links.request_manage_url(
        submission_id=submission.pk, email_hash=lookup_hash(submission.email.strip().lower())
    )
    token = issued_before.rsplit("/r/", 1)[1].strip("/")

    assert client.get(reverse("manage:request", args=[token])).status_code == 200


def test_a_request_link_bound_to_another_mailbox_does_not_open(submit, client):
    submission = submit(RESPELLED)
    other = links.request_manage_url(
        submission_id=submission.pk, email_hash=email_hash("someone.else@gmail.com")
    )
    token = other.rsplit("/r/", 1)[1].strip("/")

    assert client.get(reverse("manage:request", args=[token])).status_code == 404
