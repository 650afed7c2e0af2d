"""A request that finds the database unreachable gets 503 with Retry-After, never a 500."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError, ProgrammingError, connection
from twilio.request_validator import RequestValidator

from intake.models import Submission

pytestmark = pytest.mark.django_db

LEAD = {"first_name": "Lee", "phone": "+12025550143", "sms_consent": True}


@pytest.fixture
def database_down(monkeypatch):
    """Every query on this thread's connection fails as psycopg fails when the server
    is gone; ``up()`` brings it back."""

    def fail(error: Exception):
        def cursor(*args, **kwargs):
            raise error

        monkeypatch.setattr(connection, "cursor", cursor)

    class Switch:
        def down(self, error: Exception) -> None:
            fail(error)

        def up(self) -> None:
            monkeypatch.undo()

    return Switch()


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("connection failed: Connection refused"),
        InterfaceError("connection already closed"),
    ],
)
def test_a_lead_posted_while_the_database_is_down_gets_503_with_retry_after(
    api_client, database_down, settings, error
):
    settings.READYZ_RETRY_AFTER_SECONDS = 7
    database_down.down(error)

    response = api_client.post("/api/v1/leads/", LEAD, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response.json() == {
        "code": "database_unavailable",
        "message": "The service is briefly unavailable. Please try again shortly.",
    }


def test_the_next_request_after_the_database_is_back_is_served(api_client, database_down):
    database_down.down(OperationalError("the database system is shutting down"))
    assert api_client.post("/api/v1/leads/", LEAD, format="json").status_code == 503
    database_down.up()

    response = api_client.post("/api/v1/leads/", LEAD, format="json")

    assert response.status_code == 201
    assert Submission.objects.filter(reference=response.json()["reference"]).exists()


def test_a_twilio_webhook_gets_503_too_so_twilio_retries_it(client, database_down, settings):
    settings.TWILIO_AUTH_TOKEN = "test-auth-token"
    settings.PUBLIC_BASE_URL = "https://clinic.example"
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered"}
    signature = RequestValidator("test-auth-token").compute_signature(
        "https://clinic.example/webhooks/twilio/status/", params
    )
    database_down.down(OperationalError("connection failed"))

    response = client.post("/webhooks/twilio/status/", params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 503
    assert response["Retry-After"]


def test_a_programming_error_is_not_disguised_as_an_outage(api_client, database_down):
    database_down.down(ProgrammingError('relation "intake_lead" does not exist'))

    with pytest.raises(ProgrammingError):
        api_client.post("/api/v1/leads/", LEAD, format="json")
