"""The text inbox in Chromium at a phone's width (390 px) and a laptop's (1366 px): the
list shows who wrote and how much is unread, a thread opens and is read from the
keyboard, a reply is written and sent without the mouse, and axe finds nothing
serious on either page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from notifications.models import Message, SmsConversation
from notifications.services import inbound_receive
from tests.browser.test_accessibility import axe_page, serious_violations  # noqa: F401
from tests.browser.test_console import WIDTHS, sign_in
from tests.browser.test_instant_calls_toggle import focus_on
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+12025550144"


@pytest.fixture
def coordinator():
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    return user


@pytest.fixture
def dana_texted(settings):
    """Dana asked for a call, agreed to texts, got the confirmation, and texted back."""
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    submit_lead(first_name="Dana", phone=PHONE, sms_consent=True)  # routed inline
    inbound_receive(provider_id="SMbrowser1", sender=PHONE, body="Is 5 pm ok for the call?")
    return SmsConversation.objects.get()


@pytest.mark.parametrize("size", WIDTHS)
def test_a_thread_is_opened_and_answered_from_the_keyboard(
    open_page, live_server, coordinator, dana_texted, size
):
    page, log = open_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server, coordinator)
    assert page.get_by_role("link", name="Inbox (1 unread)").is_visible()

    page.goto(f"{live_server.url}/console/inbox/")
    row = page.locator(f'tr[data-conversation="{dana_texted.pk}"]')
    assert "1 unread" in row.inner_text()
    assert "Is 5 pm ok for the call?" in row.inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= size[0]

    focus_on(page, "Dana")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    with page.expect_navigation(url=f"{live_server.url}/console/inbox/{dana_texted.pk}/"):
        page.keyboard.press("Enter")
    assert page.get_by_text("Is 5 pm ok for the call?").is_visible()
    dana_texted.refresh_from_db()
    assert dana_texted.unread_count == 0

    page.keyboard.press("r")  # the shortcut to the reply box
    assert page.evaluate("() => document.activeElement.id") == "reply-body"
    page.keyboard.type("Yes, 5 pm works. Talk soon.")
    page.keyboard.press("Tab")  # the next control after the reply box is its button
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Send text"
    with page.expect_navigation(url=f"{live_server.url}/console/inbox/{dana_texted.pk}/"):
        page.keyboard.press("Enter")

    assert page.get_by_role("status").filter(has_text="Text sent.").count()
    assert page.get_by_text("Yes, 5 pm works. Talk soon.").is_visible()
    reply = Message.objects.get(purpose=Message.Purpose.REPLY)
    assert reply.sent_by_id == coordinator.pk
    assert page.evaluate("() => document.documentElement.scrollWidth") <= size[0]
    assert log.foreign() == []


def test_shortcuts_turned_off_leave_keys_alone(open_page, live_server, coordinator, dana_texted):
    page, _log = open_page()
    sign_in(page, live_server, coordinator)
    page.goto(f"{live_server.url}/console/inbox/")
    with page.expect_navigation():
        page.get_by_role("button", name="Turn them off").click()
    page.goto(f"{live_server.url}/console/inbox/{dana_texted.pk}/")

    page.locator("body").focus()
    page.keyboard.press("r")

    assert page.evaluate("() => document.activeElement.id") != "reply-body"


def test_the_inbox_and_a_thread_have_no_serious_violations(
    axe_page,  # noqa: F811
    live_server,
    coordinator,
    dana_texted,
):
    page = axe_page(390, 844)
    sign_in(page, live_server, coordinator)
    page.goto(f"{live_server.url}/console/inbox/")
    assert serious_violations(page) == []
    page.goto(f"{live_server.url}/console/inbox/{dana_texted.pk}/")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Send text").click()  # empty: an error, focused
    page.locator("#reply-error").wait_for()
    # The error takes the focus once the page has loaded (inbox.js, on DOMContentLoaded):
    # waited for, not read at the instant the element appears.
    page.wait_for_function("() => document.activeElement.id === 'reply-error'", timeout=5000)
    assert serious_violations(page) == []
