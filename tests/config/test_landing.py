"""Every role lands where it works, and the error pages keep the site around them."""

from __future__ import annotations

import pytest
from django.test import Client

from config.views import server_error
from tests.signin import totp_code, totp_device, verified_login

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _sign_in(client: Client, user, *, next_path: str = ""):
    data = {"username": user.username, "password": PASSWORD}
    if next_path:
        data["next"] = next_path
    return client.post("/accounts/login/", data)


def test_marketing_lands_on_the_reports_after_signing_in(client, marketer):
    response = _sign_in(client, marketer)

    assert response.status_code == 302
    assert response["Location"] == "/reports/"


def test_marketing_sent_to_sign_in_by_the_console_lands_on_the_reports(client, marketer):
    response = _sign_in(client, marketer, next_path="/console/")

    assert response["Location"] == "/reports/"


def test_marketing_with_a_second_factor_lands_on_the_reports_after_the_code(client, marketer):
    device = totp_device(marketer)
    _sign_in(client, marketer, next_path="/console/")

    response = client.post(
        "/accounts/two-factor/?next=%2Fconsole%2F",
        {"token": totp_code(device), "next": "/console/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/reports/"


def test_a_coordinator_still_lands_on_the_console(client, coordinator):
    device = totp_device(coordinator)
    _sign_in(client, coordinator, next_path="/console/")

    response = client.post(
        "/accounts/two-factor/", {"token": totp_code(device), "next": "/console/"}
    )

    assert response["Location"] == "/console/"


def test_the_403_page_has_the_sites_navigation_and_sign_out(client, marketer):
    client.force_login(marketer)

    response = client.get("/console/")

    assert response.status_code == 403
    html = response.content.decode()
    assert "/static/css/site.css" in html
    assert "This page is not for your role" in html
    assert "Sign out" in html
    assert 'href="/reports/"' in html


def test_the_404_page_has_the_sites_navigation(client, coordinator):
    verified_login(client, coordinator)

    response = client.get("/console/callbacks/999999/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "Sign out" in html and "/static/css/site.css" in html


def test_the_500_page_has_the_sites_navigation(rf, coordinator):
    request = rf.get("/console/")
    request.user = coordinator

    response = server_error(request)

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "Sign out" in html and "/static/css/site.css" in html


def test_the_supervisor_board_polls_like_the_queue(client, supervisor):
    verified_login(client, supervisor)

    html = client.get("/console/board/").content.decode()

    assert 'hx-trigger="every 5s"' in html
    assert 'hx-select="#board-live"' in html
    assert 'http-equiv="refresh"' not in html
