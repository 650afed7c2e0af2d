"""A coordinator's day in the console, in Chromium at a phone's width (390 px) and a
laptop's (1366 px): take the next callback, choose and log outcomes (never by Enter or
a default), confirm and undo a closing one, book; shortcuts only on one's own claim,
optional, listed on a help dialog; notes that survive the page's other actions,
errors that take the focus, the person's wishes first, no sideways scrolling.

``SAVE_SCREENSHOTS=1`` rewrites docs/screenshots/callback-1366.png and callback-390.png."""

from __future__ import annotations

import os
from datetime import time, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.utils import timezone

from intake.models import Lead
from scheduling.models import (
    Appointment,
    Availability,
    CallAttempt,
    Callback,
    Clinician,
    ConsolePreference,
)
from scheduling.services import callback_claim_next
from tests.factories import UserFactory, submit_lead
from tests.signin import totp_code, totp_device

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
WIDTHS = [pytest.param((390, 844), id="390"), pytest.param((1366, 768), id="1366")]
SCREENSHOTS = Path(django_settings.BASE_DIR) / "docs" / "screenshots"


@pytest.fixture
def coordinator():
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    return user


@pytest.fixture
def supervisor():
    user = UserFactory(username="sam-supervisor")
    user.groups.add(Group.objects.get_or_create(name="supervisor")[0])
    return user


@pytest.fixture
def clinician():
    clinician = Clinician.objects.create(name="Dr. Rivera", slot_minutes=45)
    for day in range(7):
        Availability.objects.create(
            clinician=clinician, weekday=day, starts_at=time(0), ends_at=time(23, 45)
        )
    return clinician


@pytest.fixture
def dana(settings):
    """Dana's request: no voicemail, don't name the clinic, texts allowed."""
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    submission = submit_lead(
        first_name="Dana",
        last_name="Whitfield",
        email="dana.whitfield.long.address@example.org",
        message="Evenings are best",
        contact_preferences={"voicemail_ok": False, "mention_clinic_ok": False},
    )
    return Callback.objects.get(submission=submission)  # routed inline on commit


def sign_in(page, live_server, user) -> None:
    """The real form: password, then the code the user's authenticator shows."""
    device = totp_device(user)
    page.goto(f"{live_server.url}/console/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/?next=%2Fconsole%2F")
    page.get_by_label("Code", exact=True).fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/console/")


def _page(open_page, size):
    page, log = open_page(allowed=())
    page.set_viewport_size({"width": size[0], "height": size[1]})
    return page, log


def _press(page, keys: list[str], key: str) -> None:
    keys.append(key)
    page.keyboard.press(key)


def _no_sideways_scroll(page, width: int) -> None:
    widths = page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth,"
        " card: document.querySelector('.callback-card').getBoundingClientRect().right})"
    )
    assert widths["doc"] <= width, widths
    assert widths["card"] <= width, widths


@pytest.mark.parametrize("size", WIDTHS)
def test_enter_logs_nothing_and_a_chosen_outcome_is_logged_by_its_button(
    open_page, live_server, coordinator, dana, size
):
    page, log = _page(open_page, size)
    sign_in(page, live_server, coordinator)
    callback_url = f"{live_server.url}/console/callbacks/{dana.pk}/"

    # From the claim to a logged outcome, by keyboard: N, 5 (no answer), Enter.
    keys: list[str] = []
    _press(page, keys, "n")
    page.wait_for_url(callback_url)
    assert page.get_by_role("radio", checked=True).count() == 0  # nothing pre-chosen
    _press(page, keys, "5")
    log_button = page.locator("#log-call")
    assert log_button.inner_text() == "Log “No answer” for Dana"
    assert log_button.evaluate("el => el === document.activeElement")
    _press(page, keys, "Enter")
    page.wait_for_url(f"{live_server.url}/console/")
    assert keys == ["n", "5", "Enter"]
    banner = page.locator("#logged")
    assert banner.get_attribute("role") == "status"
    assert banner.inner_text().startswith("Logged “No answer” for Dana. Next try at ")
    dana.refresh_from_db()
    assert dana.status == Callback.Status.OPEN and dana.unanswered_attempts == 1

    # Taken again; Enter in "Call back at" submits nothing: no default outcome.
    Callback.objects.filter(pk=dana.pk).update(retry_at=timezone.now() - timedelta(seconds=1))
    page.get_by_role("button", name="Next callback").click()
    page.wait_for_url(callback_url)
    attempt_posts = len(log.to(f"/console/callbacks/{dana.pk}/attempt/"))
    when = page.get_by_label("Call back at")
    when.fill("2030-01-07T10:00")
    when.press("Enter")
    later = page.get_by_role("radio", name="Asked to be called back later")
    later.check()
    later.press("Enter")  # nor Enter on a choice
    page.wait_for_timeout(300)
    assert page.url == callback_url
    assert len(log.to(f"/console/callbacks/{dana.pk}/attempt/")) == attempt_posts
    assert CallAttempt.objects.filter(callback=dana).count() == 1

    page.get_by_role("button", name="Log “Asked to be called back later” for Dana").click()
    page.wait_for_url(f"{live_server.url}/console/")
    assert (
        page.locator("#logged").inner_text()
        == "Logged “Asked to be called back later” for Dana. Call back at Mon 7 Jan 10:00."
    )
    assert log.foreign() == []


@pytest.mark.parametrize("size", WIDTHS)
def test_a_closing_outcome_asks_first_naming_the_person_and_can_be_undone(
    open_page, live_server, coordinator, dana, size
):
    page, _log = _page(open_page, size)
    sign_in(page, live_server, coordinator)
    keys: list[str] = []
    _press(page, keys, "n")
    page.wait_for_url(f"{live_server.url}/console/callbacks/{dana.pk}/")

    _press(page, keys, "7")  # wrong number
    page.keyboard.press("Enter")  # asks first; Escape takes it back (not counted)
    dialog = page.get_by_role("dialog", name="Log “Wrong number” for Dana?")
    assert dialog.is_visible()
    assert "This closes Dana's request." in dialog.inner_text()
    assert page.evaluate("document.activeElement.textContent") == "Go back"
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.id") == "log-call"  # focus returns
    assert not CallAttempt.objects.exists()

    _press(page, keys, "Enter")
    _press(page, keys, "Tab")
    _press(page, keys, "Enter")  # "Yes, log “Wrong number”"
    page.wait_for_url(f"{live_server.url}/console/")
    assert keys == ["n", "7", "Enter", "Tab", "Enter"]
    banner = page.locator("#logged")
    assert (
        banner.locator("p").inner_text() == "Logged “Wrong number” for Dana. The request is closed."
    )
    assert banner.get_by_text("until ").is_visible()
    assert Lead.objects.get(pk=dana.lead_id).stage == Lead.Stage.CLOSED

    banner.get_by_role("button", name="Undo").click()
    page.wait_for_url(f"{live_server.url}/console/callbacks/{dana.pk}/")
    assert page.get_by_text("Undone: the request is open again").is_visible()
    dana.refresh_from_db()
    assert dana.status == Callback.Status.CLAIMED and dana.claimed_by == coordinator
    assert Lead.objects.get(pk=dana.lead_id).stage == Lead.Stage.CONTACTING


@pytest.mark.parametrize("size", WIDTHS)
def test_reached_and_booked_goes_to_the_booking_and_closes_only_with_it(
    open_page, live_server, coordinator, dana, clinician, size
):
    page, _log = _page(open_page, size)
    sign_in(page, live_server, coordinator)
    page.keyboard.press("n")
    page.wait_for_url(f"{live_server.url}/console/callbacks/{dana.pk}/")
    page.get_by_label("Notes").fill("Wants an evening slot")
    page.locator("body").click(position={"x": 1, "y": 1})

    page.keyboard.press("2")  # reached and booked: the booking form, not a log

    slot = page.get_by_label("Time (clinic time, next 7 days)")
    assert slot.evaluate("el => el === document.activeElement")
    assert slot.is_visible()
    dana.refresh_from_db()
    assert dana.status == Callback.Status.CLAIMED and not CallAttempt.objects.exists()
    slot.select_option(index=2)
    page.get_by_role("button", name="Book and log the call").click()
    page.wait_for_url(f"{live_server.url}/console/")
    assert "Logged “Reached and booked a consultation” for Dana. Consultation" in (
        page.locator("#logged").inner_text()
    )
    attempt = CallAttempt.objects.get()
    assert attempt.outcome == "booked" and attempt.notes == "Wants an evening slot"
    assert Appointment.objects.get().lead_id == dana.lead_id


@pytest.mark.parametrize("size", WIDTHS)
def test_shortcuts_act_only_on_ones_own_claim_never_while_typing_and_can_be_turned_off(
    open_page, live_server, coordinator, supervisor, dana, size
):
    callback_claim_next(user_id=coordinator.pk)
    url = f"{live_server.url}/console/callbacks/{dana.pk}/"

    # A supervisor looking at the coordinator's callback: "8" does nothing.
    watcher, _log = _page(open_page, size)
    sign_in(watcher, live_server, supervisor)
    watcher.goto(url)
    watcher.keyboard.press("8")
    watcher.keyboard.press("?")
    watcher.wait_for_timeout(200)
    assert watcher.get_by_role("dialog").count() == 0
    dana.refresh_from_db()
    assert dana.status == Callback.Status.CLAIMED and not CallAttempt.objects.exists()

    # The holder: keys typed in a field are text; "?" lists them; Escape closes.
    page, _log = _page(open_page, size)
    sign_in(page, live_server, coordinator)
    page.goto(url)
    notes = page.get_by_label("Notes")
    notes.click()
    page.keyboard.type("8 then 5")
    assert notes.input_value() == "8 then 5"
    assert page.get_by_role("radio", checked=True).count() == 0
    notes.press("Shift+Tab")  # leave the field (to the link before it)
    page.keyboard.press("?")
    help_ = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert help_.is_visible()
    assert "Take the next callback" in help_.inner_text()
    page.keyboard.press("Escape")
    assert not help_.is_visible()
    opener = page.get_by_role("button", name="Keyboard shortcuts")
    opener.click()
    assert help_.is_visible()
    page.keyboard.press("Escape")
    assert opener.evaluate("el => el === document.activeElement")  # focus returns

    # Turned off: the same keys do nothing, on every page, until turned on.
    opener.click()
    help_.get_by_role("button", name="Turn shortcuts off").click()
    page.wait_for_url(url)
    assert ConsolePreference.objects.get(user=coordinator).shortcuts_enabled is False
    page.locator("body").click(position={"x": 1, "y": 1})
    page.keyboard.press("5")
    page.keyboard.press("?")
    page.wait_for_timeout(200)
    assert page.get_by_role("radio", checked=True).count() == 0
    assert not help_.is_visible()
    assert page.locator("kbd", has_text="5").count() == 0  # no key advertised


@pytest.mark.parametrize("size", WIDTHS)
def test_the_callback_page_keeps_notes_focuses_errors_shows_wishes_first_and_fits(
    open_page, live_server, coordinator, dana, clinician, size
):
    page, log = _page(open_page, size)
    sign_in(page, live_server, coordinator)
    page.keyboard.press("n")
    url = f"{live_server.url}/console/callbacks/{dana.pk}/"
    page.wait_for_url(url)
    _no_sideways_scroll(page, size[0])

    # The person's wishes, before the contact details and the outcomes.
    wishes = page.locator("ul.wishes")
    assert wishes.inner_text().split("\n") == [
        "No voicemail",
        "Don't say the clinic's name",
        "Texts allowed",
    ]
    log_heading = page.get_by_role("heading", name="Log the call")
    assert wishes.bounding_box()["y"] < log_heading.bounding_box()["y"]
    assert wishes.bounding_box()["y"] < size[1]  # seen without scrolling

    if os.environ.get("SAVE_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"callback-{size[0]}.png"), full_page=True)

    # Notes survive a text being sent (a round trip) and a refused one.
    notes = page.get_by_label("Notes")
    notes.fill("Sister may answer; ask for Dana")
    page.get_by_label("Message (no health details)").fill("Is now a good time?")
    page.get_by_role("button", name="Send text").click()
    page.wait_for_url(url)
    assert page.get_by_text("Text queued.").is_visible()
    assert page.get_by_label("Notes").input_value() == "Sister may answer; ask for Dana"
    assert page.get_by_text("Your unsaved notes were kept.").is_visible()

    page.get_by_label("Message (no health details)").fill("About your therapy")
    page.get_by_role("button", name="Send text").click()
    page.wait_for_load_state()
    error = page.locator("#sms-error")
    assert error.evaluate("el => el === document.activeElement")  # the error has the focus
    box = error.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= size[1]  # and is in view
    assert page.get_by_label("Notes").input_value() == "Sister may answer; ask for Dana"
    _no_sideways_scroll(page, size[0])

    # Logged: the notes went with the call, and the draft is gone.
    draft = f"() => sessionStorage.getItem('console-notes:{dana.pk}')"
    assert page.evaluate(draft) == "Sister may answer; ask for Dana"
    page.get_by_role("radio", name="No answer").check()
    page.locator("#log-call").click()
    page.wait_for_url(f"{live_server.url}/console/")
    assert CallAttempt.objects.get().notes == "Sister may answer; ask for Dana"
    assert page.evaluate(draft) is None
    assert log.foreign() == []


@pytest.mark.parametrize("size", WIDTHS)
def test_the_outcome_confirmation_and_the_shortcut_list_have_no_serious_violations(
    browser, live_server, coordinator, dana, size
):
    # test_accessibility imports this module's sign_in: its helper is imported here.
    from tests.browser.test_accessibility import serious_violations

    # axe is added as a script tag, which the page's CSP would refuse.
    context = browser.new_context(bypass_csp=True, viewport={"width": size[0], "height": size[1]})
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(live_server.url) else route.abort()
        ),
    )
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_in(page, live_server, coordinator)
        page.keyboard.press("n")
        page.wait_for_url(f"{live_server.url}/console/callbacks/{dana.pk}/")
        assert serious_violations(page) == []

        page.keyboard.press("8")
        page.keyboard.press("Enter")
        assert page.get_by_role(
            "dialog", name="Log “Asked not to be contacted” for Dana?"
        ).is_visible()
        assert serious_violations(page) == []
        page.keyboard.press("Escape")

        page.keyboard.press("?")
        assert page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
        assert serious_violations(page) == []
    finally:
        context.close()
