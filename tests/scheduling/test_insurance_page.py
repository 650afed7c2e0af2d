"""Insurance on the callback page and the "verifications waiting" page (issue 25, item
2): a coordinator records the insurance, sets the verification status (who and when
shown), uses what a form gave once checked with the person; a refused form comes back
with each error by its field and nothing written; the waiting list shows no ids;
marketing sees none of it; every page showing ids is on the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from intake.models import INSURANCE_READ, InsuranceRecord, InsuranceVerification
from scheduling.models import Callback
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

MEMBER_ID = "QW7731-0042"


def form(**overrides) -> dict[str, str]:
    values = {
        "insurance_payer": "cigna",
        "insurance_plan_type": "ppo",
        "insurance_member_id": MEMBER_ID,
        "insurance_group_number": "88120",
        "insurance_relationship": "spouse",
    }
    values.update(overrides)
    return values


@pytest.fixture
def page_callback(client, coordinator, route, settings):
    """A routed callback and a signed-in coordinator (not holding it)."""
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    callback = route(submit_lead(first_name="Dana"))
    verified_login(client, coordinator)
    return callback


def page_of(client, callback: Callback) -> str:
    return client.get(f"/console/callbacks/{callback.pk}/").content.decode()


def test_the_page_offers_the_insurance_form(client, page_callback):
    page = page_of(client, page_callback)

    assert f'action="/console/callbacks/{page_callback.pk}/insurance/"' in page
    assert '<label for="insurance-payer">Payer</label>' in page
    assert "No insurance recorded yet." in page
    assert "Cigna" in page and "Self-pay" in page


def test_a_coordinator_records_the_insurance_and_sets_the_status(
    client, page_callback, coordinator
):
    response = client.post(f"/console/callbacks/{page_callback.pk}/insurance/", form())

    assert response.status_code == 302
    assert response["Location"].endswith("#insurance-heading")
    record = InsuranceRecord.objects.get(lead_id=page_callback.lead_id)
    assert (record.payer, record.plan_type, record.member_id, record.group_number) == (
        "cigna",
        "ppo",
        MEMBER_ID,
        "88120",
    )
    assert record.subscriber_relationship == "spouse"

    client.post(
        f"/console/callbacks/{page_callback.pk}/insurance/verification/",
        {"status": "verified_in_network"},
    )

    page = page_of(client, page_callback)
    assert MEMBER_ID in page
    status = page[page.index('id="insurance-status"') :]
    status = status[: status.index("</dd>")]
    assert "Verified, in network" in status and coordinator.get_username() in status
    record.refresh_from_db()
    assert record.verification_status == "verified_in_network"
    assert record.verification_changed_by_id == coordinator.pk


def test_a_refused_form_comes_back_with_the_error_by_its_field(client, page_callback):
    response = client.post(
        f"/console/callbacks/{page_callback.pk}/insurance/",
        form(insurance_member_id="QW7731/0042", insurance_payer="acme", notes="call at 5"),
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="insurance-member-id-error"' in page and 'id="insurance-payer-error"' in page
    # What was typed is kept, for the coordinator to correct.
    assert 'value="QW7731/0042"' in page
    assert not InsuranceRecord.objects.exists()


def test_an_unknown_status_is_refused_by_the_buttons(client, page_callback):
    client.post(f"/console/callbacks/{page_callback.pk}/insurance/", form())

    response = client.post(
        f"/console/callbacks/{page_callback.pk}/insurance/verification/", {"status": "done"}
    )

    assert response.status_code == 400
    assert 'id="insurance-status-error"' in response.content.decode()
    assert InsuranceVerification.objects.count() == 1


def test_a_status_before_any_insurance_is_refused(client, page_callback):
    response = client.post(
        f"/console/callbacks/{page_callback.pk}/insurance/verification/", {"status": "requested"}
    )

    assert response.status_code == 409
    assert not InsuranceRecord.objects.exists()


def test_what_the_form_gave_is_shown_unverified_and_used_on_one_click(client, page_callback, route):
    lead = page_callback.lead
    given = submit_lead(phone=lead.phone, insurance_payer="humana", insurance_member_id="HUM-55501")
    assert given.lead_id == lead.pk

    page = page_of(client, page_callback)

    assert "Given on the form, not verified" in page and "HUM-55501" in page
    assert not InsuranceRecord.objects.exists()

    client.post(
        f"/console/callbacks/{page_callback.pk}/insurance/use/", {"submission_id": given.pk}
    )

    record = InsuranceRecord.objects.get()
    assert (record.payer, record.member_id) == ("humana", "HUM-55501")


def test_every_page_showing_the_ids_is_on_the_audit_trail(client, page_callback, coordinator):
    client.post(f"/console/callbacks/{page_callback.pk}/insurance/", form())

    page_of(client, page_callback)
    page_of(client, page_callback)

    reads = InsuranceRecord.objects.get().events.filter(pgh_label=INSURANCE_READ)
    assert reads.count() == 2
    assert {read.pgh_context["read"] for read in reads} == {"callback page"}
    assert {read.pgh_context["user"] for read in reads} == {coordinator.pk}


def test_the_waiting_page_lists_the_oldest_first_without_ids(client, coordinator, route, settings):
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    callbacks = [route(submit_lead(first_name=name)) for name in ("Ana", "Bea", "Cy")]
    verified_login(client, coordinator)
    start = timezone.now()
    for minutes, callback in zip((20, 0, 10), callbacks, strict=True):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            client.post(f"/console/callbacks/{callback.pk}/insurance/", form())
    client.post(
        f"/console/callbacks/{callbacks[2].pk}/insurance/verification/",
        {"status": "not_covered"},
    )

    page = client.get("/console/insurance/").content.decode()

    assert page.index("Bea") < page.index("Ana")
    assert "Cy" not in page.split("<tbody>")[1]
    assert MEMBER_ID not in page and "88120" not in page
    assert f'href="/console/callbacks/{callbacks[1].pk}/#insurance-heading"' in page
    assert 'href="/console/insurance/">Verifications</a>' in page


def test_marketing_may_open_none_of_it(client, marketer, page_callback):
    client.logout()
    verified_login(client, marketer)

    assert client.get("/console/insurance/").status_code == 403
    response = client.post(f"/console/callbacks/{page_callback.pk}/insurance/", form())
    assert response.status_code == 403
    assert not InsuranceRecord.objects.exists()
