"""Pre-admission screenings (issue 25, item 1): PHQ-9 and GAD-7 scored with the
published bands, recorded by API (``/api/v1/leads/{reference}/screenings/``), PHQ-9
question 9 opening the crisis protocol, answers encrypted at rest, every read audited,
and nothing of them in logs, errors or marketing's reports."""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from clinic.crypto import decrypt_text
from clinic.errors import ApplicationError
from config.logs import redact
from intake import selectors as intake_selectors
from intake.instruments import GAD7, INSTRUMENTS, PHQ9
from intake.models import SCREENING_READ, Lead, Screening
from intake.services import lead_erase, screening_check
from notifications.models import Message
from scheduling.models import Callback, StaffAlert
from scheduling.services.outreach import lead_message
from tests.factories import ArticleFactory, UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

# A PHQ-9 no other text in a page, log or report is likely to hold.
DISTINCT = [2, 3, 1, 2, 3, 1, 2, 3, 0]  # 17: moderately severe, question 9 "not at all"


def url(reference: str) -> str:
    return f"/api/v1/leads/{reference}/screenings/"


def answers_scoring(instrument: str, score: int, *, question_nine: int = 0) -> list[int]:
    """Answers of ``instrument`` summing to ``score``, PHQ-9's ninth as given where the
    score allows it (a score of 27 needs every answer at 3)."""
    count = len(INSTRUMENTS[instrument].questions)
    answers = [0] * count
    if instrument == PHQ9:
        answers[8] = min(question_nine, score)
    remaining = score - sum(answers)
    for index in range(count):
        if instrument == PHQ9 and index == 8:
            continue
        answers[index] = min(3, remaining)
        remaining -= answers[index]
    if remaining:  # only PHQ-9 at 25-27 with question 9 kept low
        answers[8] += remaining
    assert sum(answers) == score
    return answers


@pytest.fixture
def lead_submission(route):
    submission = submit_lead(message="Please call after 5")
    route(submission)
    return submission


@pytest.fixture
def staff_api(api_client, coordinator):
    api_client.force_authenticate(coordinator)
    return api_client


# --- Scoring -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_scores_fall_in_the_published_bands(score, band):
    checked = screening_check(instrument=PHQ9, answers=answers_scoring(PHQ9, score))

    assert (checked.score, checked.band) == (score, band)


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_scores_fall_in_the_published_bands(score, band):
    checked = screening_check(instrument=GAD7, answers=answers_scoring(GAD7, score))

    assert (checked.score, checked.band) == (score, band)


@pytest.mark.parametrize(
    ("instrument", "score", "band"), [(PHQ9, 15, "moderately_severe"), (GAD7, 5, "mild")]
)
def test_the_api_answers_201_with_the_score_and_band(
    staff_api, lead_submission, coordinator, instrument, score, band
):
    response = staff_api.post(
        url(lead_submission.reference),
        {
            "instrument": instrument,
            "answers": answers_scoring(instrument, score),
            "presenting_concern": "depression",
            "level_of_care": "intensive-outpatient",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["instrument"], body["score"], body["band"]) == (instrument, score, band)
    assert body["presenting_concern"] == "depression"
    assert body["level_of_care"] == "intensive-outpatient"
    assert body["opens_crisis"] is False
    assert body["created_by"] == coordinator.get_username()
    stored = Screening.objects.get(pk=body["id"])
    assert (stored.lead_id, stored.created_by_id) == (lead_submission.lead_id, coordinator.pk)
    assert body["created_at"]


def test_the_list_shows_the_leads_screenings_newest_first(staff_api, lead_submission):
    for instrument in (PHQ9, GAD7):
        staff_api.post(
            url(lead_submission.reference),
            {"instrument": instrument, "answers": answers_scoring(instrument, 6)},
            format="json",
        )
    other = submit_lead()
    staff_api.post(url(other.reference), {"instrument": GAD7, "answers": [0] * 7}, format="json")

    listed = staff_api.get(url(lead_submission.reference)).json()

    assert [(each["instrument"], each["score"]) for each in listed] == [(GAD7, 6), (PHQ9, 6)]


# --- Bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"instrument": PHQ9, "answers": [0] * 8}, "answers"),
        ({"instrument": PHQ9, "answers": [0] * 7}, "answers"),
        ({"instrument": GAD7, "answers": [0] * 9}, "answers"),
        ({"instrument": GAD7, "answers": [0] * 6}, "answers"),
        ({"instrument": GAD7, "answers": []}, "answers"),
        ({"instrument": PHQ9, "answers": [0] * 8 + [4]}, "answers.8"),
        ({"instrument": PHQ9, "answers": [-1] + [0] * 8}, "answers.0"),
        ({"instrument": GAD7, "answers": [True] + [0] * 6}, "answers.0"),
        ({"instrument": GAD7, "answers": [0, 1.0, 0, 0, 0, 0, 0]}, "answers.1"),
        ({"instrument": GAD7, "answers": [0, 0, "1", 0, 0, 0, 0]}, "answers.2"),
        ({"instrument": GAD7, "answers": [0, 0, 0, None, 0, 0, 0]}, "answers.3"),
        ({"instrument": GAD7, "answers": "0000000"}, "answers"),
        ({"instrument": GAD7}, "answers"),
        ({"instrument": "bdi2", "answers": [0] * 7}, "instrument"),
        ({"instrument": 7, "answers": [0] * 7}, "instrument"),
        ({"answers": [0] * 7}, "instrument"),
        (
            {"instrument": GAD7, "answers": [0] * 7, "presenting_concern": "boredom"},
            "presenting_concern",
        ),
        ({"instrument": GAD7, "answers": [0] * 7, "level_of_care": "spa"}, "level_of_care"),
        (
            {"instrument": GAD7, "answers": [0] * 7, "level_of_care": ["outpatient"]},
            "level_of_care",
        ),
    ],
)
def test_bad_input_gets_a_400_naming_the_field(staff_api, lead_submission, body, field):
    response = staff_api.post(url(lead_submission.reference), body, format="json")

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not Screening.objects.exists()


def test_a_body_that_is_not_an_object_gets_a_400(staff_api, lead_submission):
    response = staff_api.post(url(lead_submission.reference), [1, 2, 3], format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_the_service_refuses_what_the_page_could_send(settings):
    # The callback page's form sends strings; only whole numbers from 0 to 3 count.
    with pytest.raises(ApplicationError) as refused:
        screening_check(instrument=GAD7, answers=["1", 0, 0, 0, 0, 0, 0], level_of_care="x")

    assert set(refused.value.fields) == {"answers.0", "level_of_care"}


def test_a_concern_from_the_configured_list_is_accepted(settings, staff_api, lead_submission):
    settings.SCREENING_PRESENTING_CONCERNS = ["gambling"]
    settings.SCREENING_LEVELS_OF_CARE = ["day-program"]

    response = staff_api.post(
        url(lead_submission.reference),
        {
            "instrument": GAD7,
            "answers": [0] * 7,
            "presenting_concern": "gambling",
            "level_of_care": "day-program",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()


def test_an_unknown_reference_is_a_404(staff_api):
    for method in (staff_api.get, staff_api.post):
        response = method(
            url("R-2222-3333-4444"), {"instrument": GAD7, "answers": [0] * 7}, format="json"
        )
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_only_coordinators_and_supervisors_may_use_it(api_client, lead_submission, marketer):
    body = {"instrument": GAD7, "answers": [0] * 7}
    assert api_client.get(url(lead_submission.reference)).status_code == 403
    assert api_client.post(url(lead_submission.reference), body, format="json").status_code == 403

    api_client.force_authenticate(marketer)
    assert api_client.get(url(lead_submission.reference)).status_code == 403
    assert api_client.post(url(lead_submission.reference), body, format="json").status_code == 403
    assert not Screening.objects.exists()


def test_a_supervisor_may_record_one(api_client, lead_submission, supervisor):
    api_client.force_authenticate(supervisor)

    response = api_client.post(
        url(lead_submission.reference), {"instrument": GAD7, "answers": [1] * 7}, format="json"
    )

    assert response.status_code == 201


# --- Crisis --------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [1, 2, 3])
def test_phq9_question_nine_above_zero_opens_the_crisis_protocol(
    staff_api, lead_submission, answer, settings
):
    settings.STAFF_ALERT_EMAILS = []
    callback = Callback.objects.get(lead_id=lead_submission.lead_id)
    assert not callback.is_urgent

    response = staff_api.post(
        url(lead_submission.reference),
        {"instrument": PHQ9, "answers": [0] * 8 + [answer]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["opens_crisis"] is True
    callback.refresh_from_db()
    assert callback.is_urgent
    assert callback.due_at <= Screening.objects.get().created_at
    alert = StaffAlert.objects.get(callback=callback)
    assert (alert.kind, alert.audience) == (StaffAlert.Kind.URGENT, StaffAlert.Audience.SUPERVISOR)
    assert alert.resolved_at is None
    assert intake_selectors.lead_in_crisis(lead_id=lead_submission.lead_id)


def test_phq9_question_nine_at_zero_opens_nothing(staff_api, lead_submission):
    response = staff_api.post(
        url(lead_submission.reference),
        {"instrument": PHQ9, "answers": [3] * 8 + [0]},  # severe, but no self-harm answer
        format="json",
    )

    assert response.json()["opens_crisis"] is False
    assert not Callback.objects.get(lead_id=lead_submission.lead_id).is_urgent
    assert not StaffAlert.objects.exists()
    assert not intake_selectors.lead_in_crisis(lead_id=lead_submission.lead_id)


def test_a_crisis_screening_of_a_lead_without_a_live_callback_queues_an_urgent_one(
    staff_api, lead_submission
):
    Callback.objects.filter(lead_id=lead_submission.lead_id).update(
        status=Callback.Status.DONE, result=Callback.Result.REACHED
    )

    staff_api.post(
        url(lead_submission.reference),
        {"instrument": PHQ9, "answers": [0] * 8 + [1]},
        format="json",
    )

    live = Callback.objects.get(lead_id=lead_submission.lead_id, status=Callback.Status.OPEN)
    assert live.is_urgent
    assert StaffAlert.objects.filter(
        callback=live, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR
    ).exists()


def test_after_a_crisis_screening_follow_ups_take_the_crisis_wording(
    staff_api, route, settings, django_capture_on_commit_callbacks
):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "23:59", "00:00"
    crisis, calm = (route(submit_lead(message="Evenings please")).lead for _ in range(2))
    for lead, nine in ((crisis, 2), (calm, 0)):
        reference = lead.submissions.first().reference
        staff_api.post(
            url(reference), {"instrument": PHQ9, "answers": [1] * 8 + [nine]}, format="json"
        )

    with django_capture_on_commit_callbacks(execute=True):
        for lead in (crisis, calm):
            lead_message(
                lead=lead,
                purpose="follow_up",
                template="missed_call",
                context={},
                key=f"m:{lead.pk}",
            )

    sent = Message.objects.filter(purpose="follow_up")
    assert {m.template for m in sent.filter(correlation=f"lead:{crisis.pk}")} == {
        "missed_call_crisis"
    }
    assert {m.template for m in sent.filter(correlation=f"lead:{calm.pk}")} == {"missed_call"}
    for message in sent:
        # The crisis wording, never the screening: no score, band or answer.
        assert "PHQ" not in message.body and "screening" not in message.body.lower()


# --- Confidentiality -----------------------------------------------------------------


def test_answers_score_and_band_are_encrypted_at_rest(staff_api, lead_submission):
    staff_api.post(
        url(lead_submission.reference),
        {
            "instrument": PHQ9,
            "answers": DISTINCT,
            "presenting_concern": "trauma",
            "level_of_care": "residential",
        },
        format="json",
    )

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT answers, score, band, presenting_concern, level_of_care FROM intake_screening"
        )
        [row] = cursor.fetchall()
    plain = (json.dumps(DISTINCT), "17", "moderately_severe", "trauma", "residential")
    for column, value in zip(row, plain, strict=True):
        # A Fernet token of the value, never the value (nor, for long ones, any of it).
        assert column.startswith("gAAAAA") and column != value
        assert decrypt_text(column) == value
        assert len(value) < 5 or value not in column
    stored = Screening.objects.get()
    assert (stored.answer_list, stored.score_value, stored.band) == (
        DISTINCT,
        17,
        "moderately_severe",
    )


def test_the_audit_trail_keeps_no_answers_but_records_every_read(
    staff_api, lead_submission, coordinator
):
    created = staff_api.post(
        url(lead_submission.reference), {"instrument": PHQ9, "answers": DISTINCT}, format="json"
    ).json()
    staff_api.post(
        url(lead_submission.reference), {"instrument": GAD7, "answers": [1] * 7}, format="json"
    )

    staff_api.get(url(lead_submission.reference))
    staff_api.get(url(lead_submission.reference))

    screening = Screening.objects.get(pk=created["id"])
    reads = screening.events.filter(pgh_label=SCREENING_READ).order_by("pgh_id")
    assert [read.pgh_context["read"] for read in reads] == [
        "screenings API (recorded)",
        "screenings API",
        "screenings API",
    ]
    assert {read.pgh_context["user"] for read in reads} == {coordinator.pk}
    event_fields = {field.name for field in screening.events.model._meta.fields}
    assert not {"answers", "score", "band", "presenting_concern", "level_of_care"} & event_fields


def test_no_answer_score_or_band_reaches_the_logs(staff_api, lead_submission, caplog):
    caplog.set_level(logging.DEBUG)

    staff_api.post(
        url(lead_submission.reference), {"instrument": PHQ9, "answers": DISTINCT}, format="json"
    )
    staff_api.post(
        url(lead_submission.reference),
        {"instrument": PHQ9, "answers": [*DISTINCT[:8], 9]},
        format="json",
    )
    staff_api.get(url(lead_submission.reference))

    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    for secret in (json.dumps(DISTINCT), "2, 3, 1, 2, 3", "moderately", "Moderately"):
        assert secret not in logged


def test_a_screenings_values_are_redacted_should_a_log_line_carry_them():
    event = redact(None, "info", {"event": "x", "answers": DISTINCT, "score": 17, "band": "mild"})

    assert (event["answers"], event["score"], event["band"]) == ("[redacted]",) * 3


def test_marketing_reports_show_nothing_of_screenings(
    staff_api, client, api_client, marketer, route, settings
):
    settings.REPORT_NOISE = 0
    ArticleFactory(slug="sleep-and-mood", title="Sleep and mood", topic="depression")
    submissions = [submit_lead(article_slug="sleep-and-mood") for _ in range(6)]
    for submission in submissions:
        route(submission)
        staff_api.post(
            url(submission.reference),
            {"instrument": PHQ9, "answers": DISTINCT, "presenting_concern": "trauma"},
            format="json",
        )
    reader = type(api_client)()
    reader.force_authenticate(marketer)
    verified_login(client, marketer)

    texts = [
        json.dumps(reader.get("/api/v1/reports/articles/").json()),
        reader.get("/api/v1/reports/articles/", {"format": "csv"}).content.decode(),
        client.get("/reports/").content.decode(),
    ]

    assert reader.get(url(submissions[0].reference)).status_code == 403
    for text in texts:
        for secret in (
            "phq",
            "PHQ",
            "screening",
            "Screening",
            "moderately",
            "Moderately",
            "trauma",
        ):
            assert secret not in text


def test_erasure_blanks_the_screenings_but_keeps_when(staff_api, lead_submission):
    staff_api.post(
        url(lead_submission.reference),
        {"instrument": PHQ9, "answers": [0] * 8 + [2], "presenting_concern": "trauma"},
        format="json",
    )

    lead_erase(lead=Lead.objects.get(pk=lead_submission.lead_id), actor=None, reason="asked")

    screening = Screening.objects.get()
    assert screening.created_at
    assert (screening.answers, screening.score, screening.band, screening.presenting_concern) == (
        "",
        "",
        "",
        "",
    )
    assert not screening.opens_crisis


def test_the_admin_shows_a_screening_read_only_and_records_the_read(staff_api, lead_submission):
    created = staff_api.post(
        url(lead_submission.reference), {"instrument": GAD7, "answers": [2] * 7}, format="json"
    ).json()
    admin = UserFactory(username="screening-admin", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    client = Client()
    verified_login(client, admin)

    listing = client.get("/admin/intake/screening/")
    page = client.get(f"/admin/intake/screening/{created['id']}/change/")

    assert listing.status_code == 200 and "[2, 2, 2" not in listing.content.decode()
    assert page.status_code == 200
    assert "[2, 2, 2, 2, 2, 2, 2]" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()  # nothing to change
    reads = Screening.objects.get(pk=created["id"]).events.filter(pgh_label=SCREENING_READ)
    assert [read.pgh_context["read"] for read in reads] == [
        "screenings API (recorded)",
        "admin screening page",
    ]
    assert client.get("/admin/intake/screening/add/").status_code == 403
