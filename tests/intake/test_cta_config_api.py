from __future__ import annotations

import pytest

from intake.consent import consent_text

URL = "/api/v1/cta/"


@pytest.mark.django_db
def test_it_serves_the_consent_text_choices_and_crisis_resources(api_client):
    response = api_client.get(URL, {"article": "science-behind-antidepressants"})

    assert response.status_code == 200
    body = response.json()
    text = consent_text()
    assert body["consent"] == {"version": text.version, "text": text.text, "sha256": text.sha256}
    assert "Reply STOP to opt out" in body["consent"]["text"]
    assert {"value": "ocd", "label": "OCD"} in body["interests"]
    assert [c["value"] for c in body["preferred_channels"]] == ["call", "sms", "email"]
    assert [c["value"] for c in body["best_times"]] == [
        "anytime",
        "morning",
        "afternoon",
        "evening",
    ]
    assert {r["phone"] for r in body["crisis_resources"]} == {"988", "911"}
    assert body["captcha"] == {"provider": "", "site_key": ""}


@pytest.mark.django_db
def test_it_may_be_cached_by_browsers_and_sets_no_cookie(api_client):
    response = api_client.get(URL)

    assert "public" in response["Cache-Control"]
    assert "max-age=300" in response["Cache-Control"]
    assert not response.cookies


@pytest.mark.django_db
def test_the_text_served_is_the_text_whose_version_a_submission_records(routed_api_client):
    api_client = routed_api_client
    served = api_client.get(URL).json()["consent"]

    api_client.post(
        "/api/v1/leads/",
        {
            "first_name": "Maria",
            "phone": "+12025550143",
            "sms_consent": True,
            "consent_version": served["version"],
        },
        format="json",
    )

    from intake.models import Consent

    consent = Consent.objects.get()
    assert (consent.text_version, consent.text_sha256) == (served["version"], served["sha256"])


@pytest.mark.django_db
def test_it_shows_the_captcha_site_key_when_a_provider_is_set(api_client, settings):
    settings.CAPTCHA_PROVIDER = "turnstile"
    settings.CAPTCHA_SITE_KEY = "0x4AAA-site"

    body = api_client.get(URL).json()

    assert body["captcha"] == {"provider": "turnstile", "site_key": "0x4AAA-site"}


@pytest.mark.django_db
def test_it_is_throttled_per_ip(api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "cta_config_ip": "1/minute",
        },
    }
    assert api_client.get(URL).status_code == 200

    response = api_client.get(URL)

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert "Retry-After" in response


# --- CORS ----------------------------------------------------------------------------------

ORIGIN = "https://www.clinic.example"


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/cta/"), ("post", "/api/v1/leads/"), ("post", "/api/v1/events/")],
)
def test_a_configured_article_origin_may_call_the_public_api(api_client, cors, method, path):
    response = api_client.options(
        path,
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method.upper(),
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,idempotency-key",
    )

    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "idempotency-key" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
def test_a_configured_origin_can_read_the_answer(api_client, cors):
    response = api_client.get(URL, HTTP_ORIGIN=ORIGIN)
    assert response["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.django_db
def test_another_origin_gets_no_cors_header(api_client, cors):
    preflight = api_client.options(
        "/api/v1/leads/",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    response = api_client.get(URL, HTTP_ORIGIN="https://evil.example")

    assert "Access-Control-Allow-Origin" not in preflight
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_staff_endpoints_get_no_cors_header_even_for_a_configured_origin(client, cors):
    response = client.get("/api/schema/", HTTP_ORIGIN=ORIGIN)
    assert "Access-Control-Allow-Origin" not in response
