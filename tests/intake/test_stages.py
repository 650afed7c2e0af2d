"""Admissions steps (``intake.services.stages.lead_stage_reach``): screened, insurance
verified and waitlisted, stamped once on the lead, counted in the funnel rollups (and
by their rebuild), and shown to marketing per article under the small-cell rules."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from clinic.errors import ApplicationError
from intake.models import FunnelRollup, Lead, WebhookDelivery
from intake.reports import article_funnel_report
from intake.services import (
    INSURANCE_VERIFIED,
    SCREENED,
    WAITLISTED,
    funnel_rollups_rebuild,
    lead_erase,
    lead_stage_reach,
    screening_check,
)
from intake.services.events import clinic_day
from intake.services.rollup_rebuild import funnel_contributions_recompute
from intake.services.rollups import funnel_rollup_totals
from scheduling.services import lead_screening_record
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

STEPS = [SCREENED, INSURANCE_VERIFIED, WAITLISTED]


def _lead(slug: str = "science-behind-antidepressants") -> Lead:
    return Lead.objects.get(pk=submit_lead(article_slug=slug).lead_id)


def _totals(field: str) -> int:
    """The step's count in the day rows, first touch, all sources."""
    return funnel_rollup_totals(grain="day", attribution="first", source="*")[field]


def _report(**kwargs):
    today = clinic_day()
    return article_funnel_report(date_from=today, date_to=today, **kwargs)


@pytest.mark.parametrize("step", STEPS)
def test_a_step_is_stamped_the_first_time_and_never_moved(step):
    lead = _lead()
    first = timezone.now() - timedelta(minutes=5)

    assert lead_stage_reach(lead_id=lead.pk, stage=step, at=first) is True
    assert lead_stage_reach(lead_id=lead.pk, stage=step) is False
    assert lead_stage_reach(lead_id=lead.pk, stage=step, at=timezone.now()) is False

    lead.refresh_from_db()
    assert getattr(lead, f"{step}_at") == first
    assert lead.stage == Lead.Stage.NEW  # a step beside the life stage, not a stage


@pytest.mark.parametrize("step", STEPS)
def test_a_step_counts_once_in_the_rollups_of_every_grain_and_attribution(step):
    lead = _lead()

    lead_stage_reach(lead_id=lead.pk, stage=step)
    lead_stage_reach(lead_id=lead.pk, stage=step)

    for grain in ("day", "week", "month"):
        for attribution in ("first", "last"):
            totals = funnel_rollup_totals(grain=grain, attribution=attribution, source="*")
            assert totals[step] == 1
            assert totals[f"{step}_key"] != 0  # its record key, for the cell key method
    others = [other for other in STEPS if other != step]
    assert all(_totals(other) == 0 for other in others)
    assert _totals("contacted") == 0  # not implied by a step, nor implying one


def test_the_steps_do_not_imply_one_another_or_the_funnel_stages():
    lead = _lead()
    lead_stage_reach(lead_id=lead.pk, stage=WAITLISTED)

    lead.refresh_from_db()
    assert (lead.screened_at, lead.insurance_verified_at) == (None, None)
    assert (_totals(SCREENED), _totals(INSURANCE_VERIFIED), _totals(WAITLISTED)) == (0, 0, 1)


def test_an_unknown_step_or_lead_is_refused():
    lead = _lead()
    with pytest.raises(ValueError):
        lead_stage_reach(lead_id=lead.pk, stage="admitted")
    with pytest.raises(ApplicationError) as refused:
        lead_stage_reach(lead_id=lead.pk + 10_000, stage=SCREENED)
    assert refused.value.status_code == 404


def test_an_anonymised_lead_is_not_stamped():
    lead = _lead()
    lead_erase(lead=lead, actor=None, reason="asked")

    assert lead_stage_reach(lead_id=lead.pk, stage=INSURANCE_VERIFIED) is False
    lead.refresh_from_db()
    assert lead.insurance_verified_at is None


def test_a_recorded_screening_marks_the_lead_screened_once(coordinator):
    lead = _lead()
    request = screening_check(instrument="gad7", answers=[1] * 7)

    first = lead_screening_record(lead_id=lead.pk, request=request, user_id=coordinator.pk)
    lead_screening_record(lead_id=lead.pk, request=request, user_id=coordinator.pk)

    lead.refresh_from_db()
    assert lead.screened_at == first.created_at
    assert _totals(SCREENED) == 1


def test_the_rebuild_agrees_with_the_write_paths_and_restores_the_steps():
    assert connection.vendor == "postgresql"  # the set-based rebuild (rollup_rebuild)
    for steps in [STEPS, [SCREENED], [WAITLISTED, INSURANCE_VERIFIED]]:
        lead = _lead()
        for step in steps:
            lead_stage_reach(lead_id=lead.pk, stage=step)
    kept = {step: _totals(step) for step in STEPS}
    assert kept == {SCREENED: 2, INSURANCE_VERIFIED: 2, WAITLISTED: 2}

    assert funnel_rollups_rebuild() == 0  # nothing drifted: both apply the same rules
    FunnelRollup.objects.update(screened=0, insurance_verified=0, waitlisted=0)
    out = io.StringIO()
    call_command("rebuild_funnel_rollups", stdout=out)  # what beat runs nightly, now
    drifted = re.search(r"; (\d+) rows had drifted", out.getvalue())
    assert drifted is not None and int(drifted.group(1)) > 0
    assert {step: _totals(step) for step in STEPS} == kept
    recomputed = funnel_contributions_recompute()
    assert sum(count for (key, field), count in recomputed.items() if field == SCREENED) == 4


def test_the_report_shows_the_steps_per_article_with_small_cells_suppressed(settings):
    settings.REPORT_NOISE = 0  # exact counts: complementary suppression alone protects them
    settings.REPORT_MIN_CELL = 5
    for _ in range(6):
        lead_stage_reach(lead_id=_lead("often-read").pk, stage=SCREENED)
    for _ in range(2):
        lead_stage_reach(lead_id=_lead("rarely-read").pk, stage=SCREENED)
    waitlisted = _lead("often-read")
    lead_stage_reach(lead_id=waitlisted.pk, stage=WAITLISTED)

    report = _report()
    rows = {row["key"]: row for row in report["rows"]}

    assert rows["rarely-read"]["screened"] == "<5"
    # Shown beside a total of 8, 6 would give the 2 away: withheld as well.
    assert rows["often-read"]["screened"] == "hidden"
    assert report["total"]["screened"] == 8
    assert rows["often-read"]["waitlisted"] == "<5"
    assert rows["often-read"]["insurance_verified"] == 0


def test_with_noise_a_small_step_count_is_never_a_number(settings):
    settings.REPORT_NOISE = 2
    settings.REPORT_MIN_CELL = 5
    for _ in range(2):
        lead_stage_reach(lead_id=_lead("rarely-read").pk, stage=INSURANCE_VERIFIED)

    report = _report()

    row = next(row for row in report["rows"] if row["key"] == "rarely-read")
    assert row["insurance_verified"] == "<5"
    assert report["total"]["insurance_verified"] == "<5"


def test_marketing_reads_the_steps_as_counts_only_in_the_api_and_csv(api_client, marketer):
    for _ in range(7):
        lead_stage_reach(lead_id=_lead().pk, stage=SCREENED)
    api_client.force_authenticate(marketer)

    body = api_client.get("/api/v1/reports/articles/").json()
    csv_text = api_client.get("/api/v1/reports/articles/", {"format": "csv"}).content.decode()

    total = body["total"]
    assert isinstance(total["screened"], int) and 5 <= total["screened"] <= 9
    assert {"screened", "insurance_verified", "waitlisted"} <= set(body["rows"][0])
    header = csv_text.splitlines()[0]
    assert "Screened,Screened suppressed,Insurance verified" in header
    assert "Maria" not in csv_text and "@example.org" not in csv_text


def test_the_dashboard_draws_the_steps_below_the_funnel(client, marketer):
    for _ in range(6):
        lead_stage_reach(lead_id=_lead().pk, stage=WAITLISTED)
    verified_login(client, marketer)

    page = client.get("/reports/").content.decode()

    funnel = page[page.index('data-chart="funnel"') : page.index("</svg>")]
    assert "Screened" in funnel and "Insurance verified" in funnel and "Waitlisted" in funnel
    assert funnel.count('class="step"') == 3
    assert 'height="352"' in funnel  # 12 rows of 28 and the gap


def test_no_webhook_is_queued_without_endpoints(settings):
    settings.WEBHOOK_ENDPOINTS = []
    lead_stage_reach(lead_id=_lead().pk, stage=SCREENED)
    assert not WebhookDelivery.objects.exists()
