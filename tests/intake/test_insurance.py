"""Insurance and the verification of benefits (issue 25, item 2): recorded by API
(``/api/v1/leads/{reference}/insurance/``), member IDs and group numbers encrypted at
rest with every read audited, the verification status set in one place with who and
when, the "verifications waiting" list, bad input refused by field with nothing
written, and nothing of it in logs or marketing's reports."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from clinic.crypto import decrypt_text
from clinic.errors import ApplicationError
from config.logs import redact
from intake import insurance_selectors
from intake.models import (
    INSURANCE_READ,
    InsuranceRecord,
    InsuranceVerification,
    Lead,
    Submission,
)
from intake.services import (
    insurance_check,
    insurance_from_submission,
    insurance_record_save,
    insurance_verification_set,
    lead_erase,
)
from tests.factories import ArticleFactory, UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

# Identifiers no other text in a page, log or report is likely to hold.
MEMBER_ID = "XQZ8841207"
GROUP = "GRP-77311"


def url(reference: str, tail: str = "") -> str:
    return f"/api/v1/leads/{reference}/insurance/{tail}"


def body(**overrides):
    values = {
        "payer": "aetna",
        "plan_type": "ppo",
        "member_id": MEMBER_ID,
        "group_number": GROUP,
        "subscriber_relationship": "self",
    }
    values.update(overrides)
    return values


@pytest.fixture
def lead_submission():
    return submit_lead()


@pytest.fixture
def staff_api(api_client, coordinator):
    api_client.force_authenticate(coordinator)
    return api_client


# --- Recording -----------------------------------------------------------------------


def test_the_first_put_answers_201_then_200(staff_api, lead_submission, coordinator):
    first = staff_api.put(url(lead_submission.reference), body(), format="json")

    assert first.status_code == 201, first.json()
    answer = first.json()
    assert answer["recorded"] is True
    assert (answer["payer"], answer["payer_label"], answer["plan_type"]) == (
        "aetna",
        "Aetna",
        "ppo",
    )
    assert (answer["member_id"], answer["group_number"]) == (MEMBER_ID, GROUP)
    assert answer["verification_status"] == "not_started"
    assert answer["updated_by"] == coordinator.get_username()
    record = InsuranceRecord.objects.get()
    assert record.lead_id == lead_submission.lead_id

    second = staff_api.put(
        url(lead_submission.reference), body(plan_type="hmo", group_number=""), format="json"
    )

    assert second.status_code == 200
    assert (second.json()["plan_type"], second.json()["group_number"]) == ("hmo", "")
    assert InsuranceRecord.objects.count() == 1


def test_spaces_from_a_card_are_dropped_and_letters_upper_cased(staff_api, lead_submission):
    response = staff_api.put(
        url(lead_submission.reference), body(member_id=" 1eg4-te5 mk73 "), format="json"
    )

    assert response.status_code == 201
    assert InsuranceRecord.objects.get().member_id == "1EG4-TE5MK73"


def test_a_lead_without_insurance_reads_as_not_recorded(staff_api, lead_submission):
    response = staff_api.get(url(lead_submission.reference))

    assert response.status_code == 200
    answer = response.json()
    assert answer["recorded"] is False
    assert answer["verification_status"] == "not_started"
    assert answer["member_id"] == ""


def test_a_configured_payer_list_is_used(settings, staff_api, lead_submission):
    settings.INSURANCE_PAYERS = {"regional-health": "Regional Health Plan"}

    refused = staff_api.put(url(lead_submission.reference), body(), format="json")
    accepted = staff_api.put(
        url(lead_submission.reference), body(payer="regional-health"), format="json"
    )

    assert refused.status_code == 400
    assert "payer" in refused.json()["fields"]
    assert accepted.status_code == 201
    assert accepted.json()["payer_label"] == "Regional Health Plan"


# --- Bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payer": "acme-insurance"}, "payer"),
        ({"payer": ""}, "payer"),
        ({"payer": None}, "payer"),
        ({"plan_type": "platinum"}, "plan_type"),
        ({"subscriber_relationship": "cousin"}, "subscriber_relationship"),
        ({"member_id": "XQZ<script>"}, "member_id"),
        ({"member_id": "XQZ_8841"}, "member_id"),
        ({"member_id": "XQZ.8841"}, "member_id"),
        ({"member_id": "ÄQZ8841"}, "member_id"),
        ({"member_id": "X"}, "member_id"),
        ({"member_id": "A" * 31}, "member_id"),
        ({"member_id": "-XQZ8841"}, "member_id"),
        ({"member_id": "XQZ\u200b8841"}, "member_id"),
        ({"group_number": "G#1"}, "group_number"),
        ({"group_number": "G" * 31}, "group_number"),
        ({"group_number": True}, "group_number"),
        ({"payer": "self_pay"}, "member_id"),
    ],
)
def test_bad_input_gets_a_400_naming_the_field_and_writes_nothing(
    staff_api, lead_submission, change, field
):
    response = staff_api.put(url(lead_submission.reference), body(**change), format="json")

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not InsuranceRecord.objects.exists()
    assert not InsuranceVerification.objects.exists()
    # The error names the rule, never the value sent.
    sent = change.get(field, MEMBER_ID)
    if isinstance(sent, str) and len(sent) > 2:
        assert sent not in json.dumps(error)


def test_a_refused_change_leaves_the_record_as_it_was(staff_api, lead_submission):
    staff_api.put(url(lead_submission.reference), body(), format="json")

    response = staff_api.put(
        url(lead_submission.reference),
        body(payer="cigna", member_id="NEW-ID-1", group_number="bad group!"),
        format="json",
    )

    assert response.status_code == 400
    record = InsuranceRecord.objects.get()
    assert (record.payer, record.member_id, record.group_number) == ("aetna", MEMBER_ID, GROUP)


def test_a_body_that_is_not_an_object_gets_a_400(staff_api, lead_submission):
    response = staff_api.put(url(lead_submission.reference), [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_an_unknown_reference_is_a_404(staff_api):
    for response in (
        staff_api.get(url("R-2222-3333-4444")),
        staff_api.put(url("R-2222-3333-4444"), body(), format="json"),
        staff_api.post(
            url("R-2222-3333-4444", "verification/"), {"status": "requested"}, format="json"
        ),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_only_coordinators_and_supervisors_may_use_it(
    api_client, lead_submission, marketer, supervisor
):
    reference = lead_submission.reference
    calls = (
        lambda: api_client.get(url(reference)),
        lambda: api_client.put(url(reference), body(), format="json"),
        lambda: api_client.post(url(reference, "verification/"), {"status": "requested"}),
        lambda: api_client.get("/api/v1/insurance/waiting/"),
    )
    for call in calls:
        assert call().status_code == 403
    api_client.force_authenticate(marketer)
    for call in calls:
        assert call().status_code == 403
    assert not InsuranceRecord.objects.exists()

    api_client.force_authenticate(supervisor)
    assert api_client.put(url(reference), body(), format="json").status_code == 201


# --- Verification --------------------------------------------------------------------


def test_the_verification_status_keeps_who_and_when(staff_api, lead_submission, coordinator):
    staff_api.put(url(lead_submission.reference), body(), format="json")

    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        response = staff_api.post(
            url(lead_submission.reference, "verification/"),
            {"status": "verified_in_network"},
            format="json",
        )

    assert response.status_code == 200, response.json()
    answer = response.json()
    assert answer["verification_status"] == "verified_in_network"
    assert answer["verification_changed_by"] == coordinator.get_username()
    assert [(each["status"], each["previous_status"]) for each in answer["verifications"]] == [
        ("verified_in_network", "not_started"),
        ("not_started", "not_started"),
    ]
    assert all(each["changed_by"] == coordinator.get_username() for each in answer["verifications"])
    record = InsuranceRecord.objects.get()
    assert record.verification_changed_by_id == coordinator.pk
    assert record.verification_changed_at > record.created_at


@pytest.mark.parametrize("status", ["verified", "", None, 3])
def test_an_unknown_status_is_a_400(staff_api, lead_submission, status):
    staff_api.put(url(lead_submission.reference), body(), format="json")

    response = staff_api.post(
        url(lead_submission.reference, "verification/"), {"status": status}, format="json"
    )

    assert response.status_code == 400
    assert "status" in response.json()["fields"]
    assert InsuranceRecord.objects.get().verification_status == "not_started"


def test_a_verification_before_any_insurance_is_a_409(staff_api, lead_submission):
    response = staff_api.post(
        url(lead_submission.reference, "verification/"), {"status": "requested"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "no_insurance"
    assert not InsuranceRecord.objects.exists()


def test_a_self_pay_record_is_self_pay_and_has_no_benefits_to_verify(staff_api, lead_submission):
    response = staff_api.put(
        url(lead_submission.reference),
        {"payer": "self_pay", "plan_type": "ppo"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["verification_status"] == "self_pay"
    assert response.json()["plan_type"] == ""
    refused = staff_api.post(
        url(lead_submission.reference, "verification/"),
        {"status": "verified_in_network"},
        format="json",
    )
    assert refused.status_code == 400
    assert "status" in refused.json()["fields"]


def test_another_payer_starts_the_verification_again(staff_api, lead_submission):
    reference = lead_submission.reference
    staff_api.put(url(reference), body(), format="json")
    staff_api.post(url(reference, "verification/"), {"status": "not_covered"}, format="json")

    same_policy = staff_api.put(url(reference), body(plan_type="hmo"), format="json").json()
    other_payer = staff_api.put(url(reference), body(payer="cigna"), format="json").json()

    assert same_policy["verification_status"] == "not_covered"
    assert other_payer["verification_status"] == "not_started"


def test_the_same_status_twice_is_recorded_once(lead_submission, coordinator):
    lead_id = lead_submission.lead_id
    insurance_record_save(
        lead_id=lead_id, request=insurance_check(payer="humana"), user_id=coordinator.pk
    )

    for _ in range(2):
        insurance_verification_set(lead_id=lead_id, status="requested", user_id=coordinator.pk)

    assert list(InsuranceVerification.objects.order_by("pk").values_list("status", flat=True)) == [
        "not_started",
        "requested",
    ]


def test_a_verified_status_stamps_the_insurance_verified_step_once(lead_submission, coordinator):
    lead_id = lead_submission.lead_id
    insurance_record_save(
        lead_id=lead_id, request=insurance_check(payer="humana"), user_id=coordinator.pk
    )
    for status in ("requested", "not_covered"):
        insurance_verification_set(lead_id=lead_id, status=status, user_id=coordinator.pk)
    assert Lead.objects.get(pk=lead_id).insurance_verified_at is None

    insurance_verification_set(
        lead_id=lead_id, status="verified_out_of_network", user_id=coordinator.pk
    )
    first = Lead.objects.get(pk=lead_id).insurance_verified_at
    insurance_verification_set(
        lead_id=lead_id, status="verified_in_network", user_id=coordinator.pk
    )

    assert first is not None
    assert Lead.objects.get(pk=lead_id).insurance_verified_at == first


def test_a_self_pay_record_reaches_the_insurance_verified_step(staff_api, lead_submission):
    staff_api.put(url(lead_submission.reference), {"payer": "self_pay"}, format="json")

    assert Lead.objects.get(pk=lead_submission.lead_id).insurance_verified_at is not None


def test_the_waiting_list_is_oldest_first_with_no_ids(staff_api, coordinator):
    leads = [submit_lead(first_name=name) for name in ("Ana", "Bea", "Cy", "Dee")]
    start = timezone.now()
    for minutes, submission in zip((30, 10, 20, 0), leads, strict=True):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            staff_api.put(
                url(submission.reference), body(member_id=f"MEMBER{minutes:04d}"), format="json"
            )
    with time_machine.travel(start + timedelta(minutes=40), tick=False):
        # Requested later: waiting since then. Verified: off the list.
        staff_api.post(url(leads[3].reference, "verification/"), {"status": "requested"})
        staff_api.post(
            url(leads[1].reference, "verification/"), {"status": "verified_out_of_network"}
        )

    response = staff_api.get("/api/v1/insurance/waiting/")

    assert response.status_code == 200
    rows = response.json()
    assert [(row["first_name"], row["status"]) for row in rows] == [
        ("Cy", "not_started"),
        ("Ana", "not_started"),
        ("Dee", "requested"),
    ]
    assert rows[0]["reference"] == leads[2].reference
    assert rows[0]["payer_label"] == "Aetna"
    text = json.dumps(rows)
    assert "MEMBER" not in text and GROUP not in text
    assert "member_id" not in rows[0] and "group_number" not in rows[0]


def test_an_erased_lead_leaves_the_waiting_list_and_its_ids(staff_api, lead_submission, admin_user):
    staff_api.put(url(lead_submission.reference), body(), format="json")

    lead_erase(lead=lead_submission.lead, actor=admin_user, reason="ticket 12")

    record = InsuranceRecord.objects.get()
    assert (record.payer, record.member_id, record.group_number) == ("", "", "")
    assert record.verification_status == "not_started"
    assert insurance_selectors.insurance_verifications_waiting() == []


# --- Confidentiality -----------------------------------------------------------------


def test_member_id_and_group_number_are_encrypted_at_rest(staff_api, lead_submission):
    staff_api.put(url(lead_submission.reference), body(), format="json")

    with connection.cursor() as cursor:
        cursor.execute("SELECT member_id, group_number FROM intake_insurancerecord")
        [row] = cursor.fetchall()
        cursor.execute("SELECT * FROM intake_insurancerecordevent")
        events = cursor.fetchall()
    for column, value in zip(row, (MEMBER_ID, GROUP), strict=True):
        assert column.startswith("gAAAAA") and value not in column
        assert decrypt_text(column) == value
    # The trail names what changed, never the values.
    assert events and MEMBER_ID not in str(events) and GROUP not in str(events)
    assert "aetna" not in str(events)


def test_every_read_of_the_ids_is_on_the_audit_trail(staff_api, lead_submission, coordinator):
    reference = lead_submission.reference
    staff_api.put(url(reference), body(), format="json")
    staff_api.get(url(reference))
    staff_api.post(url(reference, "verification/"), {"status": "requested"}, format="json")

    record = InsuranceRecord.objects.get()
    reads = record.events.filter(pgh_label=INSURANCE_READ).order_by("pgh_id")
    assert [read.pgh_context["read"] for read in reads] == [
        "insurance API (recorded)",
        "insurance API",
        "insurance API (verification)",
    ]
    assert {read.pgh_context["user"] for read in reads} == {coordinator.pk}
    assert {read.pgh_context["reference"] for read in reads} == {reference}
    event_fields = {field.name for field in record.events.model._meta.fields}
    assert not {"member_id", "group_number", "payer", "plan_type"} & event_fields


def test_no_member_id_reaches_the_logs(staff_api, lead_submission, caplog):
    caplog.set_level(logging.DEBUG)

    staff_api.put(url(lead_submission.reference), body(), format="json")
    staff_api.put(url(lead_submission.reference), body(member_id=MEMBER_ID + "!"), format="json")
    staff_api.get(url(lead_submission.reference))

    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    assert MEMBER_ID not in logged and GROUP not in logged


def test_insurance_values_are_redacted_should_a_log_line_carry_them():
    event = redact(
        None,
        "info",
        {
            "event": "x",
            "member_id": MEMBER_ID,
            "group_number": GROUP,
            "payer": "aetna",
            "insurance_member_id": MEMBER_ID,
            "insurance_payer": "aetna",
        },
    )

    assert MEMBER_ID not in str(event) and "aetna" not in str(event)


def test_marketing_reports_show_nothing_of_insurance(
    staff_api, client, api_client, marketer, settings
):
    settings.REPORT_NOISE = 0
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", topic="depression")
    for _ in range(6):
        submission = submit_lead(
            article_slug="sleep-and-mood", insurance_payer="tricare", insurance_member_id=MEMBER_ID
        )
        staff_api.put(url(submission.reference), body(payer="tricare"), format="json")
    reader = type(api_client)()
    reader.force_authenticate(marketer)
    verified_login(client, marketer)

    texts = [
        json.dumps(reader.get("/api/v1/reports/articles/").json()),
        reader.get("/api/v1/reports/articles/", {"format": "csv"}).content.decode(),
        client.get("/reports/").content.decode(),
    ]

    for text in texts:
        assert MEMBER_ID not in text and GROUP not in text
        assert "tricare" not in text.lower()


# --- What a form gave ----------------------------------------------------------------


def test_a_coordinator_may_use_what_the_form_gave(lead_submission, coordinator):
    given = submit_lead(
        phone=lead_submission.phone, insurance_payer="cigna", insurance_member_id="CIG-12345"
    )
    assert given.lead_id == lead_submission.lead_id

    record, created = insurance_from_submission(
        lead_id=given.lead_id, submission_id=given.pk, user_id=coordinator.pk
    )

    assert created
    assert (record.payer, record.member_id, record.verification_status) == (
        "cigna",
        "CIG-12345",
        "not_started",
    )


def test_another_leads_request_cannot_be_used(lead_submission, coordinator):
    stranger = submit_lead(insurance_payer="cigna", insurance_member_id="CIG-12345")

    with pytest.raises(ApplicationError) as refused:
        insurance_from_submission(
            lead_id=lead_submission.lead_id, submission_id=stranger.pk, user_id=coordinator.pk
        )

    assert refused.value.status_code == 404
    assert not InsuranceRecord.objects.exists()


def test_the_form_given_values_are_listed_unverified(staff_api, lead_submission):
    submit_lead(phone=lead_submission.phone, insurance_payer="bcbs", insurance_member_id="BC-991")

    answer = staff_api.get(url(lead_submission.reference)).json()

    assert answer["recorded"] is False
    assert [(each["payer_label"], each["member_id"]) for each in answer["given_on_form"]] == [
        ("Blue Cross Blue Shield", "BC-991")
    ]
    assert Submission.objects.filter(lead_id=lead_submission.lead_id).count() == 2


def test_the_admin_lists_no_ids_and_records_the_read_of_one(staff_api, lead_submission, client):
    staff_api.put(url(lead_submission.reference), body(), format="json")
    record = InsuranceRecord.objects.get()
    admin = UserFactory(username="insurance-admin", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    verified_login(client, admin)

    listing = client.get("/admin/intake/insurancerecord/")
    change = client.get(f"/admin/intake/insurancerecord/{record.pk}/change/")

    assert listing.status_code == change.status_code == 200
    assert MEMBER_ID not in listing.content.decode()
    assert MEMBER_ID in change.content.decode()
    assert 'name="member_id"' not in change.content.decode()  # read only
    reads = record.events.filter(pgh_label=INSURANCE_READ, pgh_context__read__startswith="admin")
    assert [read.pgh_context["user"] for read in reads] == [admin.pk]


def test_a_closed_lead_is_not_waiting(staff_api, lead_submission):
    staff_api.put(url(lead_submission.reference), body(), format="json")
    Lead.objects.filter(pk=lead_submission.lead_id).update(stage=Lead.Stage.CLOSED)

    assert staff_api.get("/api/v1/insurance/waiting/").json() == []


def test_a_self_pay_form_is_used_without_its_member_id(lead_submission, coordinator):
    given = submit_lead(
        phone=lead_submission.phone, insurance_payer="self_pay", insurance_member_id="SP-1"
    )

    record, _created = insurance_from_submission(
        lead_id=given.lead_id, submission_id=given.pk, user_id=coordinator.pk
    )

    assert (record.payer, record.member_id, record.verification_status) == (
        "self_pay",
        "",
        "self_pay",
    )
