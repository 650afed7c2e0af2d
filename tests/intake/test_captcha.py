from __future__ import annotations

import json
import time

import pytest

from intake.models import Submission

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
SECRET = "test-secret"


def payload(**overrides):
    body = {"first_name": "Maria", "phone": "+12025550143", "article": "an-article"}
    body.update(overrides)
    return body


@pytest.fixture
def verifier(local_server, settings):
    """A fake siteverify endpoint: the token "good" passes, anything else fails."""

    def respond(path, form):
        if form.get("response") == "slow":
            time.sleep(1.0)
        ok = form.get("secret") == SECRET and form.get("response") == "good"
        answer = {"success": ok, "error-codes": [] if ok else ["invalid-input-response"]}
        return 200, "application/json", json.dumps(answer).encode()

    local_server.respond = respond
    settings.CAPTCHA_PROVIDER = "turnstile"
    settings.CAPTCHA_SECRET = SECRET
    settings.CAPTCHA_VERIFY_URL = f"{local_server.url}/siteverify"
    settings.CAPTCHA_TIMEOUT_SECONDS = 0.3
    return local_server


def test_without_a_provider_no_token_is_needed(api_client, settings):
    settings.CAPTCHA_PROVIDER = ""
    assert api_client.post(URL, payload(), format="json").status_code == 201


def test_a_valid_token_lets_the_request_in(api_client, verifier):
    response = api_client.post(
        URL, payload(captcha_token="good"), format="json", REMOTE_ADDR="198.51.100.4"
    )

    assert response.status_code == 201
    path, form = verifier.requests[0]
    assert path == "/siteverify"
    assert form == {"secret": SECRET, "response": "good", "remoteip": "198.51.100.4"}


def test_a_rejected_token_is_a_field_error_and_stores_nothing(api_client, verifier):
    response = api_client.post(URL, payload(captcha_token="forged"), format="json")

    assert response.status_code == 400
    assert "captcha_token" in response.json()["fields"]
    assert Submission.objects.count() == 0


def test_a_missing_token_is_refused_without_asking_the_provider(api_client, verifier):
    response = api_client.post(URL, payload(), format="json")

    assert response.status_code == 400
    assert verifier.requests == []


def test_a_provider_that_does_not_answer_in_time_does_not_lose_the_lead(api_client, verifier):
    started = time.monotonic()
    response = api_client.post(URL, payload(captcha_token="slow"), format="json")

    assert response.status_code == 201
    assert time.monotonic() - started < 1.0
    assert Submission.objects.count() == 1


def test_a_provider_that_is_down_does_not_lose_the_lead(api_client, verifier, settings):
    settings.CAPTCHA_VERIFY_URL = "http://127.0.0.1:9/siteverify"  # nothing listens there

    assert api_client.post(URL, payload(captcha_token="good"), format="json").status_code == 201


def test_hcaptcha_is_verified_the_same_way(api_client, verifier, settings):
    settings.CAPTCHA_PROVIDER = "hcaptcha"

    assert api_client.post(URL, payload(captcha_token="good"), format="json").status_code == 201
    assert api_client.post(URL, payload(captcha_token="bad"), format="json").status_code == 400


def test_a_replayed_request_is_not_verified_again(api_client, verifier):
    # A token is single-use: the retry of a request that got in must still replay.
    first = api_client.post(
        URL, payload(captcha_token="good"), format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    again = api_client.post(
        URL, payload(captcha_token="good"), format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert again.json() == first.json()
    assert len(verifier.requests) == 1


def test_a_retry_with_a_fresh_token_is_still_the_same_request(api_client, verifier):
    first = api_client.post(
        URL, payload(captcha_token="good"), format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    again = api_client.post(
        URL, payload(captcha_token="another"), format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )

    assert again.status_code == 201
    assert again.json() == first.json()
    assert Submission.objects.count() == 1


def test_the_plain_form_passes_the_widgets_token(client, verifier):
    from tests.factories import ArticleFactory

    ArticleFactory(slug="an-article")
    response = client.post(
        "/articles/an-article/request/",
        {"first_name": "Maria", "phone": "202-555-0143", "cf-turnstile-response": "good"},
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 201
    assert verifier.requests[0][1]["response"] == "good"
