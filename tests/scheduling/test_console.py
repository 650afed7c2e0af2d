from __future__ import annotations

import pytest

from scheduling.models import Callback
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


def test_the_console_asks_anonymous_users_to_sign_in(client):
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_marketing_may_not_see_the_queue(client, marketer):
    verified_login(client, marketer)
    assert client.get("/console/").status_code == 403
    assert client.get("/console/queue/").status_code == 403
    assert client.post("/console/next/").status_code == 403


def test_a_coordinator_sees_open_callbacks_most_urgent_first(client, coordinator, route):
    route(submit_lead(first_name="Later"))
    urgent = route(submit_lead(first_name="Urgent"))
    Callback.objects.filter(pk=urgent.pk).update(is_urgent=True)
    verified_login(client, coordinator)

    html = client.get("/console/").content.decode()

    assert html.index("Urgent") < html.index("Later")
    assert "Next callback" in html
    assert 'hx-trigger="every 5s"' in html


def test_next_callback_claims_and_shows_the_lead(client, coordinator, route):
    callback = route(submit_lead(first_name="Maria", message="Please call after 5"))
    verified_login(client, coordinator)

    response = client.post("/console/next/", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/console/callbacks/{callback.pk}/"
    html = response.content.decode()
    assert "Maria" in html
    assert "Log the call" in html
    assert "Please call after 5" in html  # the request, in the timeline
    callback.refresh_from_db()
    assert callback.status == Callback.Status.CLAIMED
    assert callback.claimed_by == coordinator


def test_returning_a_callback_puts_it_back_in_the_queue(client, coordinator, route):
    callback = route(submit_lead())
    verified_login(client, coordinator)
    client.post("/console/next/")

    client.post(f"/console/callbacks/{callback.pk}/release/")

    callback.refresh_from_db()
    assert callback.status == Callback.Status.OPEN


def test_the_queue_fragment_is_served_for_polling(client, supervisor, route):
    route(submit_lead(first_name="Polled"))
    verified_login(client, supervisor)

    response = client.get("/console/queue/")

    assert response.status_code == 200
    assert "Polled" in response.content.decode()
    assert "<html" not in response.content.decode()
