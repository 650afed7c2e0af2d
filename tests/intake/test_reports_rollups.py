"""The funnel rollups: kept by intake's write paths, equal to a recomputation from the
raw rows for any history of submissions, stage moves, processing and spam."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from intake.models import (
    CONTACT_TIME_EDGES,
    FUNNEL_FIELDS,
    ArticleDailyCount,
    CtaEventType,
    FunnelRollup,
    Lead,
    Submission,
)
from intake.services import (
    funnel_event_counts_sync,
    funnel_rollups_rebuild,
    lead_stage_advance,
    lead_stage_reach,
    submission_mark_processed,
)
from intake.services.rollup_rebuild import _rollups_rebuild_python
from tests.factories import ArticleFactory, submit_lead

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 13, 0, tzinfo=ZoneInfo("UTC"))
STEPS = ["screened", "insurance_verified", "waitlisted"]
STAGES = ["contacting", "contacted", "consult_booked", "consult_attended", "admitted", "closed"]
UTMS = [{}, {"utm_source": "newsletter", "utm_medium": "email"}, {"utm_campaign": "spring"}]
FIRST_TOUCHES = [{}, {"utm_source": "google", "utm_campaign": "brand", "at": "2026-01-01"}]


# --- The recomputation: the report's rules, written out plainly ------------------------


def _day(moment: datetime):
    return moment.astimezone(ZoneInfo(settings.CLINIC_TIME_ZONE)).date()


def _periods(day):
    return [
        ("day", day),
        ("week", day - timedelta(days=day.weekday())),
        ("month", day.replace(day=1)),
    ]


def _bucket(part: str, seconds: float) -> str:
    edge = next((edge for edge in CONTACT_TIME_EDGES if seconds <= edge), None)
    return f"{part}_le_{edge}" if edge else f"{part}_over"


def recompute() -> Counter:
    expected: Counter = Counter()

    def add(submission: Submission, attribution: str, field: str) -> None:
        if attribution == "first" and any(
            submission.first_touch.get(n) for n in ("utm_source", "utm_medium", "utm_campaign")
        ):
            utm = tuple(
                submission.first_touch.get(n, "")
                for n in ("utm_source", "utm_medium", "utm_campaign")
            )
        else:
            utm = (submission.utm_source, submission.utm_medium, submission.utm_campaign)
        for grain, start in _periods(_day(submission.created_at)):
            key = (grain, start, attribution, submission.article_id, submission.source, *utm)
            expected[(*key, field)] += 1
            # and once for all sources and campaigns
            key = (grain, start, attribution, submission.article_id, "*", "", "", "")
            expected[(*key, field)] += 1

    for lead in Lead.objects.all():
        touches = list(lead.submissions.filter(is_spam=False).order_by("created_at", "pk"))
        if not touches:
            continue
        first = touches[0]

        def both(touch: Submission, field: str, first: Submission = first) -> None:
            add(first, "first", field)
            add(touch, "last", field)

        for touch in touches:
            both(touch, "submissions")
        both(first, "leads")
        stamps = [lead.contacted_at, lead.consult_booked_at, lead.consult_attended_at]
        stamps.append(lead.admitted_at)
        names = ["contacted", "consult_booked", "consult_attended", "admitted"]
        for index, name in enumerate(names):
            later = [stamp for stamp in stamps[index:] if stamp]
            if not later or min(later) < first.created_at:
                continue
            reached = min(later)
            touch = [t for t in touches if t.created_at <= reached][-1]
            both(touch, name)
            if name == "contacted":
                due = datetime.fromisoformat(first.callback_window["ends_at"])
                if reached <= due:
                    both(touch, "contacted_within_target")
                if first.processed_at and first.processed_at <= reached:
                    wait = (reached - first.processed_at).total_seconds()
                    both(touch, _bucket("coordinators", wait))
                    wait = (first.processed_at - first.created_at).total_seconds()
                    both(touch, _bucket("system", wait))
        # Admissions steps: each at its own time stamp, nothing implied.
        for name in STEPS:
            reached = getattr(lead, f"{name}_at")
            if reached is None or reached < first.created_at:
                continue
            both([t for t in touches if t.created_at <= reached][-1], name)
    return expected


def rollups() -> Counter:
    kept: Counter = Counter()
    for row in FunnelRollup.objects.exclude(attribution=""):
        key = (row.grain, row.period_start, row.attribution, row.article_id, row.source)
        key += (row.utm_source, row.utm_medium, row.utm_campaign)
        for field in FUNNEL_FIELDS:
            if getattr(row, field):
                kept[(*key, field)] = getattr(row, field)
    return kept


# --- Random histories through the real services ----------------------------------------

actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.integers(0, 3),  # person
            st.sampled_from(["a", "b", ""]),  # article slug ("" none)
            st.integers(0, len(UTMS) - 1),
            st.integers(0, len(FIRST_TOUCHES) - 1),
            st.sampled_from(["web", "phone"]),
            st.booleans() | st.just(False),  # spam, less often
        ),
        st.tuples(st.just("advance"), st.integers(0, 3), st.sampled_from(STAGES)),
        st.tuples(st.just("reach"), st.integers(0, 3), st.sampled_from(STEPS)),
        st.tuples(st.just("process"), st.integers(0, 50)),
        st.tuples(st.just("wait"), st.sampled_from([1, 4, 30, 300, 1500, 3000, 20000])),
    ),
    max_size=25,
)


def _person(index: int) -> dict:
    return {"phone": f"+1202555010{index}", "email": f"person{index}@example.org"}


def _open_lead(index: int) -> Lead | None:
    return Lead.objects.filter(phone=_person(index)["phone"]).exclude(stage="closed").first()


def play(history: list[tuple]) -> None:
    now = START
    for action in history:
        with time_machine.travel(now, tick=False):
            if action[0] == "submit":
                _, person, slug, utm, first_touch, source, spam = action
                submit_lead(
                    first_name="" if source == "phone" else "Alex",
                    article_slug=slug,
                    utm=UTMS[utm],
                    first_touch=FIRST_TOUCHES[first_touch],
                    source=source,
                    is_spam=spam,
                    **_person(person),
                )
            elif action[0] == "advance":
                lead = _open_lead(action[1])
                if lead is not None:
                    lead_stage_advance(lead_id=lead.pk, stage=action[2], reason="test")
            elif action[0] == "reach":
                lead = _open_lead(action[1])
                if lead is not None:
                    lead_stage_reach(lead_id=lead.pk, stage=action[2])
            elif action[0] == "process":
                ids = list(Submission.objects.order_by("pk").values_list("pk", flat=True))
                if ids:
                    submission_mark_processed(submission_id=ids[action[1] % len(ids)])
            else:
                now += timedelta(minutes=action[1])
        now += timedelta(seconds=7)


def _reset() -> None:
    FunnelRollup.objects.all().delete()
    Lead.objects.all().delete()


@pytest.fixture
def articles():
    return [ArticleFactory(slug="a", topic="sleep"), ArticleFactory(slug="b", topic="anxiety")]


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=actions)
def test_rollups_equal_a_recomputation_for_any_history(articles, history):
    _reset()
    play(history)

    assert rollups() == recompute()
    # The nightly rebuild (set-based SQL on PostgreSQL) finds nothing to mend, and
    # changes nothing...
    assert funnel_rollups_rebuild() == 0
    assert rollups() == recompute()
    # ...builds the same rows from nothing...
    FunnelRollup.objects.all().delete()
    assert funnel_rollups_rebuild() == len(FunnelRollup.objects.all())
    assert rollups() == recompute()
    # ...and agrees, row for row, with the lead-by-lead rebuild SQLite runs.
    with transaction.atomic():
        assert _rollups_rebuild_python() == 0


def test_a_stage_reached_twice_counts_once(articles):
    submission = submit_lead(article_slug="a")
    lead_stage_advance(lead_id=submission.lead_id, stage="contacted")
    lead_stage_advance(lead_id=submission.lead_id, stage="contacted")
    lead_stage_advance(lead_id=submission.lead_id, stage="contacting")  # backwards: refused

    row = FunnelRollup.objects.get(grain="day", attribution="last", source="web")
    assert (row.leads, row.contacted) == (1, 1)


def test_a_lead_booked_straight_away_counts_as_contacted(articles):
    submission = submit_lead(article_slug="a")
    lead_stage_advance(lead_id=submission.lead_id, stage="consult_booked")

    row = FunnelRollup.objects.get(grain="month", attribution="first", source="*")
    assert (row.contacted, row.consult_booked) == (1, 1)


def test_times_to_first_contact_are_counted_once_at_contact(articles):
    submission = submit_lead(article_slug="a")
    assert submission_mark_processed(submission_id=submission.pk)
    assert not submission_mark_processed(submission_id=submission.pk)
    lead_stage_advance(lead_id=submission.lead_id, stage="contacted")
    lead_stage_advance(lead_id=submission.lead_id, stage="consult_booked")

    row = FunnelRollup.objects.get(grain="day", attribution="first", source="web")
    assert (row.system_le_60, row.coordinators_le_60) == (1, 1)


def test_the_nightly_rebuild_mends_drift(articles):
    submission = submit_lead(article_slug="a")
    lead_stage_advance(lead_id=submission.lead_id, stage="admitted")
    FunnelRollup.objects.filter(grain="week").update(admitted=F("admitted") + 3)
    FunnelRollup.objects.filter(grain="day", attribution="last").delete()

    assert funnel_rollups_rebuild() > 0

    assert rollups() == recompute()


def test_cta_event_counts_are_copied_idempotently(articles):
    day = datetime(2026, 3, 3).date()
    ArticleDailyCount.objects.create(
        article=articles[0], day=day, type=CtaEventType.CTA_VIEW, count=40
    )
    funnel_event_counts_sync(days=[day])
    ArticleDailyCount.objects.filter(day=day).update(count=45)
    funnel_event_counts_sync(days=[day])
    funnel_event_counts_sync(days=[day])

    counts = dict(FunnelRollup.objects.filter(attribution="").values_list("grain", "cta_views"))
    assert counts == {"day": 45, "week": 45, "month": 45}
    assert funnel_rollups_rebuild() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL rebuild is PostgreSQL's")
def test_the_rebuild_is_set_based_sql_on_postgresql(articles, django_assert_max_num_queries):
    for person in range(30):
        submission = submit_lead(article_slug="a", **_person(person % 10))
        lead_stage_advance(lead_id=submission.lead_id, stage="admitted")
    FunnelRollup.objects.all().delete()

    # A fixed number of statements, whatever the number of leads.
    with django_assert_max_num_queries(20):
        funnel_rollups_rebuild()

    assert rollups() == recompute()


def test_a_contact_without_a_promised_window_is_timed_against_the_target(articles, settings):
    settings.SPEED_TO_LEAD_MINUTES = 15
    with time_machine.travel(START, tick=False):
        late = submit_lead(article_slug="a", **_person(1))
        early = submit_lead(article_slug="a", **_person(2))
    Submission.objects.update(callback_window={})
    with time_machine.travel(START + timedelta(minutes=10), tick=False):
        lead_stage_advance(lead_id=early.lead_id, stage="contacted")
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        lead_stage_advance(lead_id=late.lead_id, stage="contacted")

    assert funnel_rollups_rebuild() == 0

    row = FunnelRollup.objects.get(grain="day", attribution="first", source="web")
    assert (row.contacted, row.contacted_within_target) == (2, 1)


def test_the_nightly_task_is_not_cut_short_by_the_default_time_limits(settings):
    from intake.tasks import funnel_rollups_rebuild as nightly

    # The default soft limit (45 s) would stop a rebuild of millions of leads midway.
    assert nightly.soft_time_limit >= 3600 > settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert nightly.time_limit > nightly.soft_time_limit


def test_the_rebuild_can_be_run_by_hand_after_an_upgrade(articles):
    from io import StringIO

    from django.core.management import call_command

    submission = submit_lead(article_slug="a")
    lead_stage_advance(lead_id=submission.lead_id, stage="contacted")
    FunnelRollup.objects.filter(source="*").delete()  # as before migration 0005
    FunnelRollup.objects.update(leads_key=0, contacted_key=0)
    out = StringIO()

    call_command("rebuild_funnel_rollups", stdout=out)

    assert "rows had drifted" in out.getvalue() and " 0 rows" not in out.getvalue()
    assert rollups() == recompute()
    assert funnel_rollups_rebuild() == 0
