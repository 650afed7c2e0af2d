"""A later anonymous submission's details reach the lead only when a coordinator
confirms them with the person (issue 12, finding 1)."""

from __future__ import annotations

import pytest

from intake.models import Lead
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def known(route):
    return route(submit_lead(first_name="Maria", phone="+12025550143", email=""))


def test_a_later_submissions_new_email_waits_on_the_callback_page(client, coordinator, known):
    later = submit_lead(first_name="Maria", phone="+12025550143", email="maria@example.org")
    lead = Lead.objects.get(pk=known.lead_id)
    assert (lead.email, lead.needs_review) == ("", True)

    verified_login(client, coordinator)
    page = client.get(f"/console/callbacks/{known.pk}/").content.decode()

    assert "Confirm with the person" in page
    assert "maria@example.org" in page
    assert f'name="submission_id" value="{later.pk}"' in page


def test_confirming_gives_the_lead_the_submissions_details(client, coordinator, known):
    later = submit_lead(
        first_name="Maria",
        phone="+12025550143",
        email="maria@example.org",
        preferred_channel="email",
        contact_preferences={"voicemail_ok": True},
    )
    verified_login(client, coordinator)

    response = client.post(
        f"/console/callbacks/{known.pk}/confirm-details/", {"submission_id": later.pk}
    )

    assert response.status_code == 302
    lead = Lead.objects.get(pk=known.lead_id)
    assert (lead.email, lead.preferred_channel, lead.voicemail_ok, lead.needs_review) == (
        "maria@example.org",
        "email",
        True,
        False,
    )
    assert (
        "Confirm with the person"
        not in client.get(f"/console/callbacks/{known.pk}/").content.decode()
    )


def test_a_submission_of_another_lead_cannot_be_confirmed_onto_this_one(client, coordinator, known):
    stranger = submit_lead(first_name="Pat", phone="+12025550188", email="pat@example.org")
    verified_login(client, coordinator)

    client.post(f"/console/callbacks/{known.pk}/confirm-details/", {"submission_id": stranger.pk})

    lead = Lead.objects.get(pk=known.lead_id)
    assert (lead.first_name, lead.email) == ("Maria", "")


def test_marketing_cannot_confirm_details(client, marketer, known):
    later = submit_lead(first_name="Maria", phone="+12025550143", email="maria@example.org")
    verified_login(client, marketer)

    response = client.post(
        f"/console/callbacks/{known.pk}/confirm-details/", {"submission_id": later.pk}
    )

    assert response.status_code == 403
    assert Lead.objects.get(pk=known.lead_id).email == ""
