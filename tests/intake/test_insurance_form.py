"""The insurance a person may give on the call to action (issue 25, item 2): optional,
under "More options"; kept on that request alone, encrypted and unverified; never
written onto a known person's insurance; and the answer the same whether or not the
person is known."""

from __future__ import annotations

import pytest
from django.db import connection

from intake.models import InsuranceRecord, Submission
from intake.services import insurance_check, insurance_record_save
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
MEMBER_ID = "ZW44-918273"


@pytest.fixture
def api_client(routed_api_client):
    return routed_api_client


@pytest.fixture(autouse=True)
def _article(db):
    ArticleFactory(slug="science-behind-antidepressants")


def payload(**overrides):
    body = {
        "first_name": "Maria",
        "phone": "(202) 555-0143",
        "sms_consent": True,
        "article": "science-behind-antidepressants",
    }
    body.update(overrides)
    return body


def test_a_request_without_insurance_is_as_before(api_client):
    response = api_client.post(URL, payload(), format="json")

    assert response.status_code == 201
    submission = Submission.objects.get(reference=response.json()["reference"])
    assert (submission.insurance_payer, submission.insurance_member_id) == ("", "")
    assert not InsuranceRecord.objects.exists()


def test_insurance_given_is_kept_on_the_request_encrypted(api_client):
    response = api_client.post(
        URL,
        payload(insurance_payer="aetna", insurance_member_id=" zw44-918 273 "),
        format="json",
    )

    assert response.status_code == 201
    submission = Submission.objects.get(reference=response.json()["reference"])
    assert (submission.insurance_payer, submission.insurance_member_id) == ("aetna", MEMBER_ID)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT insurance_payer, insurance_member_id FROM intake_submission WHERE id = %s",
            [submission.pk],
        )
        payer, member = cursor.fetchone()
        cursor.execute("SELECT * FROM intake_submissionevent")
        events = str(cursor.fetchall())
    assert payer.startswith("gAAAAA") and member.startswith("gAAAAA")
    assert MEMBER_ID not in member and MEMBER_ID not in events
    # A form's insurance is no record: a coordinator checks it with the person first.
    assert not InsuranceRecord.objects.exists()


def test_a_member_id_alone_is_accepted(api_client):
    response = api_client.post(URL, payload(insurance_member_id=MEMBER_ID), format="json")

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"insurance_payer": "acme"}, "insurance_payer"),
        ({"insurance_member_id": "ZW44/918273"}, "insurance_member_id"),
        ({"insurance_member_id": "<b>ZW44</b>"}, "insurance_member_id"),
        ({"insurance_member_id": "Z"}, "insurance_member_id"),
        ({"insurance_member_id": "Z" * 31}, "insurance_member_id"),
        ({"insurance_member_id": "Z" * 101}, "insurance_member_id"),
        ({"insurance_member_id": ["ZW44"]}, "insurance_member_id"),
        ({"insurance_payer": {"a": 1}}, "insurance_payer"),
    ],
)
def test_bad_insurance_is_a_field_error_and_stores_nothing(api_client, change, field):
    response = api_client.post(URL, payload(**change), format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Submission.objects.exists()


def test_a_known_persons_insurance_is_never_overwritten(api_client, coordinator):
    first = api_client.post(URL, payload(), format="json").json()
    lead = Submission.objects.get(reference=first["reference"]).lead
    insurance_record_save(
        lead_id=lead.pk,
        request=insurance_check(payer="cigna", member_id="CIG-1", plan_type="hmo"),
        user_id=coordinator.pk,
    )

    second = api_client.post(
        URL, payload(insurance_payer="aetna", insurance_member_id=MEMBER_ID), format="json"
    )

    assert second.status_code == 201
    record = InsuranceRecord.objects.get()
    assert (record.payer, record.member_id, record.plan_type) == ("cigna", "CIG-1", "hmo")
    assert record.verification_status == "not_started"
    assert record.verifications.count() == 1
    given = Submission.objects.get(reference=second.json()["reference"])
    assert given.lead_id == lead.pk
    assert given.insurance_member_id == MEMBER_ID


def test_the_answer_does_not_tell_whether_the_person_is_known(api_client, coordinator):
    known = api_client.post(URL, payload(), format="json").json()
    lead = Submission.objects.get(reference=known["reference"]).lead
    insurance_record_save(
        lead_id=lead.pk, request=insurance_check(payer="cigna"), user_id=coordinator.pk
    )
    with_insurance = payload(insurance_payer="aetna", insurance_member_id=MEMBER_ID)

    to_known = api_client.post(URL, with_insurance, format="json")
    to_new = api_client.post(URL, {**with_insurance, "phone": "(202) 555-0199"}, format="json")

    assert to_known.status_code == to_new.status_code == 201
    assert to_known.json().keys() == to_new.json().keys()
    for answer in (to_known.json(), to_new.json()):
        assert "insurance" not in str(answer).lower() and MEMBER_ID not in str(answer)


def test_the_cta_configuration_lists_the_payers(api_client, settings):
    settings.INSURANCE_PAYERS = {"aetna": "Aetna", "regional": "Regional Health"}

    payers = api_client.get("/api/v1/cta/").json()["insurance_payers"]

    assert payers[-1] == {"value": "self_pay", "label": "Self-pay"}
    assert {"value": "regional", "label": "Regional Health"} in payers


def test_the_form_without_javascript_takes_the_insurance(client, settings):
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", is_listed=True)
    page = client.get("/articles/sleep-and-mood/").content.decode()
    assert 'name="insurance_payer"' in page and 'name="insurance_member_id"' in page

    response = client.post(
        "/articles/sleep-and-mood/request/",
        {
            "first_name": "Maria",
            "phone": "(202) 555-0143",
            "insurance_payer": "humana",
            "insurance_member_id": "H1234-5678",
        },
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 201, response.content.decode()[:2000]
    submission = Submission.objects.get()
    assert (submission.insurance_payer, submission.insurance_member_id) == (
        "humana",
        "H1234-5678",
    )


def test_the_form_without_javascript_shows_a_bad_member_id_by_its_field(client):
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", is_listed=True)

    response = client.post(
        "/articles/sleep-and-mood/request/",
        {
            "first_name": "Maria",
            "phone": "(202) 555-0143",
            "insurance_member_id": "H1234?5678",
        },
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="cta-insurance-member-id-error" data-error-for="insurance_member_id">Letters' in html
    assert not Submission.objects.exists()
