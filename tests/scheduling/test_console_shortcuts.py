"""Single-key shortcuts are each user's to turn off (WCAG 2.1.4), and on a callback
page they are on only for the coordinator holding it."""

from __future__ import annotations

import pytest

from scheduling.models import ConsolePreference
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

ON = '<meta name="console-shortcuts" content="on">'
OFF = '<meta name="console-shortcuts" content="off">'


def test_shortcuts_are_on_until_the_user_turns_them_off_and_stay_off(client, coordinator):
    verified_login(client, coordinator)
    html = client.get("/console/").content.decode()
    assert ON in html and "<kbd>N</kbd>" in html

    response = client.post("/console/preferences/", {"shortcuts": "off"}, follow=True)

    html = response.content.decode()
    assert OFF in html
    assert "Keyboard shortcuts are off." in html
    assert "Next callback <kbd>N</kbd>" not in html  # no key is advertised
    assert ConsolePreference.objects.get(user=coordinator).shortcuts_enabled is False
    client.logout()
    verified_login(client, coordinator)  # another session, the same choice
    assert OFF in client.get("/console/").content.decode()

    client.post("/console/preferences/", {"shortcuts": "on"})
    assert ON in client.get("/console/").content.decode()


def test_the_toggle_returns_to_the_page_it_was_on_and_nowhere_else(client, coordinator, route):
    callback = route(submit_lead())
    verified_login(client, coordinator)
    page = f"/console/callbacks/{callback.pk}/"

    back = client.post("/console/preferences/", {"shortcuts": "off", "next": page})
    away = client.post("/console/preferences/", {"shortcuts": "on", "next": "https://evil.test/"})

    assert back["Location"] == page
    assert away["Location"] == "/console/"


def test_on_a_callback_page_shortcuts_are_on_only_for_its_holder(
    client, coordinator, supervisor, route
):
    callback = route(submit_lead(first_name="Dana"))
    verified_login(client, coordinator)
    looked_at = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    client.post("/console/next/")
    held = client.get(f"/console/callbacks/{callback.pk}/").content.decode()
    verified_login(client, supervisor)
    supervised = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    assert OFF in looked_at  # open, not claimed: keys would act on nobody's callback
    assert ON in held
    key_8 = '<kbd aria-hidden="true">8</kbd></label>'
    assert 'data-key="8"' in held and key_8 in held
    assert OFF in supervised  # a supervisor viewing a coordinator's work
    assert 'data-key="8"' not in supervised and key_8 not in supervised


def test_the_help_lists_the_shortcuts_and_offers_the_switch(client, coordinator, route):
    callback = route(submit_lead())
    verified_login(client, coordinator)
    client.post("/console/next/")

    html = client.get(f"/console/callbacks/{callback.pk}/").content.decode()

    help_ = html[
        html.index('<dialog id="shortcut-help"') : html.index(
            "</dialog>", html.index('id="shortcut-help"')
        )
    ]
    assert 'aria-labelledby="shortcut-help-title"' in help_
    for key in ("N", "R", "T", "?", "Esc"):
        assert f"<kbd>{key}</kbd>" in help_
    assert "Turn shortcuts off" in help_
    assert f'name="next" value="/console/callbacks/{callback.pk}/"' in help_
    assert 'data-opens="shortcut-help"' in html  # a button opens it too, keys or not
