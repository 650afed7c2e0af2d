"""The screening form of the callback page (issue 25, item 1): the holder records PHQ-9
and GAD-7 with the presenting concern and level of care; anyone else is refused; a
refused form comes back with each error by its question; a PHQ-9 self-harm answer
above 0 puts the crisis banner on the page at once; every read of the page's
screenings is on the audit trail."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group

from intake.models import SCREENING_READ, Lead, Screening
from scheduling.models import Callback, StaffAlert
from tests.factories import UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

# PHQ-9: 2,3,1,2,3,1,2,3 and question 9 as the test says; GAD-7: 1,2,1,2,1,2,1 (10).
PHQ9 = [2, 3, 1, 2, 3, 1, 2, 3]
GAD7 = [1, 2, 1, 2, 1, 2, 1]


def form(*, question_nine: int | None = 0, gad7: bool = True, **extra) -> dict[str, str]:
    data = {f"phq9_{number}": str(value) for number, value in enumerate(PHQ9, start=1)}
    if question_nine is not None:
        data["phq9_9"] = str(question_nine)
    if gad7:
        data.update({f"gad7_{number}": str(value) for number, value in enumerate(GAD7, start=1)})
    return {"presenting_concern": "depression", "level_of_care": "outpatient", **data, **extra}


@pytest.fixture
def held(client, coordinator, route, settings):
    """A callback claimed by the signed-in coordinator."""
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.STAFF_ALERT_EMAILS = []
    callback = route(submit_lead(first_name="Dana", message="Evenings please"))
    verified_login(client, coordinator)
    client.post("/console/next/")
    callback.refresh_from_db()
    assert callback.status == Callback.Status.CLAIMED
    return callback


def url(callback: Callback) -> str:
    return f"/console/callbacks/{callback.pk}/screening/"


def test_the_holder_sees_the_form_with_labelled_questions(client, held):
    page = client.get(f"/console/callbacks/{held.pk}/").content.decode()

    assert f'action="{url(held)}"' in page
    assert '<label for="presenting-concern">Presenting concern</label>' in page
    assert '<label for="level-of-care">Recommended level of care</label>' in page
    assert "9. Thoughts that you would be better off dead" in page
    assert page.count('name="phq9_9"') == 4 and page.count('name="gad7_7"') == 4
    assert "csrfmiddlewaretoken" in page[page.index('id="screening-form"') :]


def test_the_holder_records_both_instruments_and_sees_them(client, held, coordinator):
    response = client.post(url(held), form(), follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Screening recorded." in page
    phq9, gad7 = (Screening.objects.get(instrument=name) for name in ("phq9", "gad7"))
    assert (phq9.answer_list, phq9.score_value, phq9.band) == ([*PHQ9, 0], 17, "moderately_severe")
    assert (gad7.score_value, gad7.band) == (10, "moderate")
    for screening in (phq9, gad7):
        assert screening.lead_id == held.lead_id
        assert screening.created_by_id == coordinator.pk
        assert (screening.presenting_concern, screening.level_of_care) == (
            "depression",
            "outpatient",
        )
    assert "17 · Moderately severe" in page and "10 · Moderate" in page
    assert "Outpatient (OP)" in page
    assert "crisis-banner" not in page
    # The lead reached the admissions step "screened" at the first of them.
    lead = Lead.objects.get(pk=held.lead_id)
    assert lead.screened_at == min(phq9.created_at, gad7.created_at)


def test_one_instrument_alone_is_recorded(client, held):
    data = {key: value for key, value in form(gad7=False).items()}

    client.post(url(held), data)

    assert list(Screening.objects.values_list("instrument", flat=True)) == ["phq9"]


def test_a_blank_form_records_nothing_and_says_so(client, held):
    response = client.post(url(held), {"presenting_concern": "anxiety"})

    assert response.status_code == 400
    assert "Answer every question of PHQ-9 or GAD-7 (or both)." in response.content.decode()
    assert not Screening.objects.exists()


def test_a_half_answered_instrument_is_refused_by_each_question_with_choices_kept(client, held):
    data = form(question_nine=None, gad7=False, notes="Spoke at ten")
    data["phq9_3"] = "7"

    response = client.post(url(held), data)

    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="phq9_9-error"' in page and 'id="phq9_3-error"' in page
    assert 'id="phq9_2-error"' not in page
    assert 'role="alert" id="screening-error"' in page
    assert 'name="phq9_1" value="2" checked' in page  # what was chosen is kept
    assert 'value="depression" selected' in page
    assert "Spoke at ten" in page  # and the call notes
    assert not Screening.objects.exists()


def test_a_concern_outside_the_list_is_refused(client, held):
    response = client.post(url(held), form(presenting_concern="boredom"))

    assert response.status_code == 400
    assert 'id="presenting-concern-error"' in response.content.decode()
    assert not Screening.objects.exists()


@pytest.mark.parametrize("answer", [1, 2, 3])
def test_question_nine_above_zero_opens_the_crisis_protocol_with_its_banner(client, held, answer):
    response = client.post(url(held), form(question_nine=answer), follow=True)

    page = response.content.decode()
    assert 'class="crisis-banner"' in page
    banner = page[page.index('class="crisis-banner"') : page.index("</section>")]
    assert "PHQ-9 question 9" in banner
    assert page.index('class="crisis-banner"') < page.index("Log the call")
    held.refresh_from_db()
    assert held.is_urgent
    assert held.status == Callback.Status.CLAIMED  # the holder stays on the call
    assert StaffAlert.objects.filter(
        callback=held, kind=StaffAlert.Kind.URGENT, audience=StaffAlert.Audience.SUPERVISOR
    ).exists()


def test_question_nine_at_zero_opens_nothing(client, held):
    page = client.post(url(held), form(question_nine=0), follow=True).content.decode()

    assert "crisis-banner" not in page
    held.refresh_from_db()
    assert not held.is_urgent
    assert not StaffAlert.objects.filter(callback=held).exists()


def test_someone_not_holding_the_callback_is_refused(client, held):
    other = UserFactory(username="other-coordinator")
    other.groups.add(Group.objects.get(name="coordinator"))
    verified_login(client, other)

    page = client.get(f"/console/callbacks/{held.pk}/").content.decode()
    response = client.post(url(held), form(question_nine=2))

    assert 'id="screening-form"' not in page
    assert "Only the coordinator holding the callback records a screening." in page
    assert response.status_code == 409
    assert "Another coordinator holds this callback." in response.content.decode()
    assert not Screening.objects.exists()
    held.refresh_from_db()
    assert not held.is_urgent


def test_marketing_and_strangers_are_refused(client, held, marketer):
    client.logout()
    assert client.post(url(held), form()).status_code == 302  # to sign in
    verified_login(client, marketer)
    assert client.post(url(held), form()).status_code == 403
    assert not Screening.objects.exists()


def test_the_form_needs_its_csrf_token(held, coordinator):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    verified_login(strict, coordinator)

    assert strict.post(url(held), form()).status_code == 403
    assert not Screening.objects.exists()


def test_every_page_showing_screenings_is_on_the_audit_trail(client, held, coordinator):
    client.post(url(held), form())

    client.get(f"/console/callbacks/{held.pk}/")

    for screening in Screening.objects.all():
        reads = screening.events.filter(pgh_label=SCREENING_READ)
        assert [(read.pgh_context["read"], read.pgh_context["user"]) for read in reads] == [
            ("callback page", coordinator.pk)
        ]


def test_no_answers_reach_the_logs(client, held, caplog):
    caplog.set_level(logging.DEBUG)

    client.post(url(held), form(question_nine=1), follow=True)
    client.post(url(held), {**form(), "phq9_2": "x"})

    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    for secret in ("2, 3, 1, 2, 3", "Moderately", "moderately", "phq9_"):
        assert secret not in logged
