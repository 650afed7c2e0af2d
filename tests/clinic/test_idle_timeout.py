"""A signed-in session left alone for IDLE_TIMEOUT_MINUTES is signed out; the
console's own background requests (queue polling, lease renewal) do not count."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from tests.factories import submit_lead
from tests.signin import verified_login

CONSOLE = "/console/"
QUEUE = "/console/queue/"
POLL = {"HTTP_HX_REQUEST": "true", "HTTP_X_BACKGROUND": "1", "HTTP_HX_CURRENT_URL": CONSOLE}


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


@pytest.fixture
def console(coordinator, clock):
    client = Client()
    verified_login(client, coordinator)
    assert client.get(CONSOLE).status_code == 200
    return client


def test_an_idle_session_is_signed_out_with_a_message(console, clock):
    clock.shift(timedelta(minutes=31))
    response = console.get(CONSOLE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fconsole%2F"
    assert "_auth_user_id" not in console.session
    page = console.get(response["Location"])
    assert "signed out after 30 minutes without activity" in page.content.decode()
    # Signing out is for good: the next page asks for the password again.
    assert console.get(CONSOLE)["Location"].startswith("/accounts/login/")


def test_a_page_opened_now_and_then_keeps_the_session(console, clock):
    for _ in range(4):
        clock.shift(timedelta(minutes=20))
        assert console.get(CONSOLE).status_code == 200


def test_the_queue_polling_does_not_keep_an_unattended_session_alive(console, clock):
    # The console polls every 5 s for 29 minutes: still signed in...
    for _ in range(29):
        clock.shift(timedelta(minutes=1))
        assert console.get(QUEUE, **POLL).status_code == 200
    # ...and the first poll after 30 idle minutes sends the whole page to sign-in.
    clock.shift(timedelta(minutes=2))
    response = console.get(QUEUE, **POLL)
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fconsole%2F"
    assert "_auth_user_id" not in console.session


def test_the_console_marks_its_polling_as_background(console):
    html = console.get(CONSOLE).content.decode()
    assert 'hx-trigger="every 5s"' in html
    assert """hx-headers='{"X-Background": "1"}'""" in html


def test_lease_renewal_is_background_too(console, clock, route):
    callback = route(submit_lead())
    page = console.post("/console/next/", follow=True).content.decode()
    renew = f"/console/callbacks/{callback.pk}/renew/"
    assert f'hx-post="{renew}"' in page
    assert """hx-headers='{"X-Background": "1"}'""" in page
    for _ in range(3):
        clock.shift(timedelta(minutes=9))
        assert console.post(renew, **POLL).status_code < 400
    clock.shift(timedelta(minutes=4))
    assert console.post(renew, **POLL).status_code == 401


def test_the_supervisor_board_refresh_is_background(supervisor, clock):
    client = Client()
    verified_login(client, supervisor)
    assert client.get("/console/board/").status_code == 200
    for _ in range(30):
        clock.shift(timedelta(seconds=60))
        response = client.get("/console/board/?background=1")
    assert response.status_code == 200
    clock.shift(timedelta(minutes=1, seconds=1))
    assert client.get("/console/board/?background=1").status_code == 302


def test_an_idle_api_session_gets_401_in_the_error_shape(console, clock):
    assert console.get("/api/v1/callbacks/").status_code == 200
    clock.shift(timedelta(minutes=31))
    response = console.get("/api/v1/callbacks/")
    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"


def test_the_timeout_comes_from_the_setting(console, clock, settings):
    settings.IDLE_TIMEOUT_MINUTES = 5
    clock.shift(timedelta(minutes=4))
    assert console.get(CONSOLE).status_code == 200
    clock.shift(timedelta(minutes=6))
    response = console.get(CONSOLE)
    assert response.status_code == 302
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["You were signed out after 5 minutes without activity."]
