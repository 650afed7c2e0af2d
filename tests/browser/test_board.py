"""In Chromium, at a phone's width and a laptop's: the supervisor board's counts equal
its lists (a crisis waiting for its next try is urgent), alerts can be acknowledged,
reassigned and decided, a refresh never wipes a reason being typed, and nothing
scrolls sideways. ``SAVE_SCREENSHOTS=1`` rewrites docs/screenshots/board-*.png."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.utils import timezone

from clinic.business_time import clinic_zone
from scheduling.models import Callback, CrisisDecision, StaffAlert
from scheduling.services import attempt_log, callback_claim_next, callbacks_escalate
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401 (a fixture)
from tests.browser.test_console import sign_in
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(django_settings.BASE_DIR) / "docs" / "screenshots"


def _user(name: str, role: str):
    user = UserFactory(username=name)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def _due(callback: Callback, minutes: int) -> None:
    moment = timezone.now() + timedelta(minutes=minutes)
    Callback.objects.filter(pk=callback.pk).update(due_at=moment, original_due_at=moment)


@pytest.fixture
def day(settings):
    """A supervisor, two coordinators, and the callbacks of a busy hour."""
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    people = {
        "supervisor": _user("sasha", "supervisor"),
        "casey": _user("casey", "coordinator"),
        "robin": _user("robin", "coordinator"),
    }
    # Alex, in crisis, did not answer: waiting for the next try, and past the crisis
    # steps, so a supervisor decides.
    alex = Callback.objects.get(
        submission=submit_lead(first_name="Alex", message="I don't see the point in living")
    )
    assert callback_claim_next(user_id=people["casey"].pk).pk == alex.pk
    attempt_log(callback_id=alex.pk, user_id=people["casey"].pk, outcome="no_answer")
    later = timezone.now() + timedelta(hours=2)
    Callback.objects.filter(pk=alex.pk).update(retry_at=later, due_at=later, unanswered_attempts=4)
    StaffAlert.objects.create(callback=alex, kind="crisis_decision", audience="supervisor")
    # Jamie, in crisis too, waiting 20 minutes; Robin's callback is late and held.
    jamie = Callback.objects.get(
        submission=submit_lead(first_name="Jamie", message="I want to die")
    )
    _due(jamie, -20)
    late = Callback.objects.get(submission=submit_lead(first_name="Morgan"))
    _due(late, -25)
    Callback.objects.filter(pk=late.pk).update(
        status="claimed",
        claimed_by=people["robin"],
        claimed_at=timezone.now() - timedelta(minutes=3),
        lease_expires_at=timezone.now() + timedelta(minutes=7),
    )
    _due(Callback.objects.get(submission=submit_lead(first_name="Sam")), 12)
    callbacks_escalate()
    return {**people, "alex": alex, "jamie": jamie}


def _counts_and_lists(page) -> tuple[dict[str, int], dict[str, int]]:
    counts, shown = {}, {}
    for count in page.locator("[data-count]").all():
        name = count.get_attribute("data-count")
        counts[name] = int(count.inner_text())
        shown[name] = page.locator(f'[data-list="{name}"] > [data-item]').count()
    return counts, shown


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > window.innerWidth).map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)"
    )
    assert width <= page.viewport_size["width"], (width, wide)


@pytest.mark.parametrize("width", [390, 1366])
def test_the_board_counts_equal_its_lists_and_alerts_can_be_acted_on(
    open_page, live_server, day, width
):
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 768})
    sign_in(page, live_server, day["supervisor"])
    page.goto(f"{live_server.url}/console/board/")

    counts, shown = _counts_and_lists(page)
    assert counts == shown
    assert counts == {"urgent": 2, "alerts": 4, "overdue": 2, "due_soon": 1, "in_progress": 1}
    assert page.locator('[data-list="urgent"]').get_by_role("link", name="Alex").is_visible()
    _no_sideways_scroll(page)
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"board-{width}.png", full_page=True)

    # Jamie's crisis alert: first name, why, since when; acknowledged, it stays open.
    crisis_alert = StaffAlert.objects.get(callback=day["jamie"], kind="urgent")
    item = page.locator(f"#alert-{crisis_alert.pk}")
    assert "Jamie" in item.inner_text() and "Crisis request: not reached yet" in item.inner_text()
    assert "Raised 0" in item.inner_text()
    item.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{live_server.url}/console/board/")
    assert page.get_by_text("It stays open until the person is reached").is_visible()
    assert "seen by sasha" in page.locator(f"#alert-{crisis_alert.pk}").inner_text()

    # The ordinary "nobody took it" alert is settled by acknowledging it.
    ordinary = StaffAlert.objects.get(callback=day["jamie"], kind="unclaimed")
    page.locator(f"#alert-{ordinary.pk}").get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{live_server.url}/console/board/")
    assert page.locator(f"#alert-{ordinary.pk}").count() == 0

    # Reassign Jamie to Casey: the crisis alert stays, Casey is told.
    item = page.locator(f"#alert-{crisis_alert.pk}")
    item.get_by_label("Give to").select_option(label="casey")
    item.get_by_role("button", name="Reassign").click()
    page.wait_for_url(f"{live_server.url}/console/board/")
    assert page.get_by_text("Callback reassigned to casey; they were told.").is_visible()
    assert page.locator(f"#alert-{crisis_alert.pk}").is_visible()
    jamie = Callback.objects.get(pk=day["jamie"].pk)
    assert jamie.claimed_by == day["casey"]
    assert StaffAlert.objects.filter(kind="assigned", recipient=day["casey"]).exists()

    counts, shown = _counts_and_lists(page)
    assert counts == shown
    _no_sideways_scroll(page)
    assert log.foreign() == []


def test_a_crisis_decision_is_taken_on_the_board_and_a_refresh_keeps_the_reason(
    open_page, live_server, day
):
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server, day["supervisor"])
    page.goto(f"{live_server.url}/console/board/")
    decision = StaffAlert.objects.get(callback=day["alex"], kind="crisis_decision")
    item = page.locator(f"#alert-{decision.pk}")
    assert "not reached after 4 calls" in item.inner_text()

    # Typed, then left for longer than the 5-second refresh: still there.
    item.get_by_label("Why (kept with the decision)").fill("Her sister says she is safe")
    page.locator("h1").click()
    page.wait_for_timeout(6_500)
    reason = page.locator(f"#alert-{decision.pk}").get_by_label("Why (kept with the decision)")
    assert reason.input_value() == "Her sister says she is safe"

    # A refused decision keeps its error on screen through the refresh.
    page.locator(f"#alert-{decision.pk}").get_by_label("Keep trying at (clinic time)").fill("")
    page.locator(f"#alert-{decision.pk}").get_by_role(
        "button", name="Keep trying at this time"
    ).click()
    page.wait_for_load_state()
    error = page.locator(f"#retry-{decision.pk}-error")
    assert error.inner_text() == "Say when to try again."
    page.wait_for_timeout(6_500)
    assert error.is_visible()
    when = timezone.localtime(timezone.now() + timedelta(hours=1), clinic_zone())
    page.locator(f"#retry-{decision.pk}").fill(f"{when:%Y-%m-%dT%H:%M}")
    page.locator(f"#alert-{decision.pk}").get_by_role(
        "button", name="Keep trying at this time"
    ).click()
    page.wait_for_url(f"{live_server.url}/console/board/")
    assert page.get_by_text("Decision saved: keep trying at").is_visible()
    assert page.locator(f"#alert-{decision.pk}").count() == 0
    saved = CrisisDecision.objects.get()
    assert (saved.action, saved.reason) == ("retry", "Her sister says she is safe")
    assert log.foreign() == []


@pytest.mark.parametrize("width", [390, 1366])
def test_the_board_with_a_refused_decision_has_no_serious_violations(
    axe_page,  # noqa: F811
    live_server,
    day,
    width,
):
    page = axe_page(width, 844 if width == 390 else 768)
    sign_in(page, live_server, day["supervisor"])
    page.goto(f"{live_server.url}/console/board/")
    decision = StaffAlert.objects.get(callback=day["alex"], kind="crisis_decision")
    item = page.locator(f"#alert-{decision.pk}")
    item.get_by_label("Keep trying at (clinic time)").fill("")
    item.get_by_label("Why (kept with the decision)").fill("Try after dinner")
    item.get_by_role("button", name="Keep trying at this time").click()
    page.wait_for_load_state()
    assert page.locator(f"#retry-{decision.pk}-error").is_visible()
    assert page.evaluate("document.activeElement.id") == f"retry-{decision.pk}"

    assert serious_violations(page) == []
