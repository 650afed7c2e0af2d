"""The console says what was just logged and offers the undo of a closing outcome to
the coordinator who logged it, for as long as it may be undone."""

from __future__ import annotations

import pytest

from scheduling.models import Callback
from scheduling.services import attempt_log, callback_claim_next
from tests.factories import submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(route, coordinator, django_capture_on_commit_callbacks):
    def close(outcome: str):
        callback = route(submit_lead(first_name="Dana"))
        assert callback_claim_next(user_id=coordinator.pk).pk == callback.pk
        with django_capture_on_commit_callbacks(execute=True):
            return attempt_log(
                callback_id=callback.pk, user_id=coordinator.pk, outcome=outcome, confirm=outcome
            )

    return close


def test_the_console_offers_the_undo_and_it_reopens_the_callback(client, coordinator, closed):
    attempt = closed("wrong_number")
    verified_login(client, coordinator)
    session = client.session
    session["console_logged_attempt"] = attempt.pk
    session.save()

    html = client.get("/console/").content.decode()
    start = html.index('id="logged"')
    banner = html[start : html.index("</div>", start)]
    assert "Logged “Wrong number” for Dana. The request is closed." in banner
    assert f'name="attempt_id" value="{attempt.pk}"' in banner
    assert "Undo" in banner and "until" in banner

    response = client.post(
        f"/console/callbacks/{attempt.callback_id}/undo/", {"attempt_id": attempt.pk}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/console/callbacks/{attempt.callback_id}/"
    assert Callback.objects.get(pk=attempt.callback_id).status == Callback.Status.CLAIMED
    assert "You can still undo" not in client.get("/console/").content.decode()


def test_the_console_lists_what_may_still_be_undone_and_refuses_another_users_undo(
    client, coordinator, supervisor, closed
):
    attempt = closed("not_interested")
    verified_login(client, coordinator)
    html = client.get("/console/").content.decode()
    assert "You can still undo" in html
    assert "Logged “Not interested” for Dana." in html

    verified_login(client, supervisor)
    assert "You can still undo" not in client.get("/console/").content.decode()
    response = client.post(
        f"/console/callbacks/{attempt.callback_id}/undo/", {"attempt_id": attempt.pk}, follow=True
    )

    assert "Only the coordinator who logged this call can undo it." in response.content.decode()
    assert Callback.objects.get(pk=attempt.callback_id).status == Callback.Status.DONE
