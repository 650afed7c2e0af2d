from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from intake.consent import CONSENT_TEXTS, consent_text
from intake.models import Consent, ConsentLedgerError
from tests.factories import ArticleFactory, submit_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_client(routed_api_client):
    """The worker writes the ledger row from the submission's evidence."""
    ArticleFactory(slug="science-behind-antidepressants")
    return routed_api_client


URL = "/api/v1/leads/"


def payload(**overrides):
    body = {
        "first_name": "Maria",
        "phone": "(202) 555-0143",
        "sms_consent": True,
        "article": "science-behind-antidepressants",
        "page_url": "https://clinic.example/articles/science-behind-antidepressants/",
    }
    body.update(overrides)
    return body


def test_the_record_keeps_scope_wording_time_origin_page_and_article(api_client):
    response = api_client.post(URL, payload(), format="json", HTTP_USER_AGENT="Browser/2.0")

    assert response.status_code == 201
    consent = Consent.objects.get()
    text = consent_text()
    assert consent.scope == Consent.Scope.SMS
    assert consent.granted is True
    assert str(consent.phone) == "+12025550143"
    assert (consent.text_version, consent.text_sha256) == (text.version, text.sha256)
    # The time of the request, not of the worker's write.
    assert consent.created_at == consent.submission.created_at
    assert consent.ip_address == "127.0.0.1"
    assert consent.user_agent == "Browser/2.0"
    assert consent.page_url == "https://clinic.example/articles/science-behind-antidepressants/"
    assert consent.article.slug == "science-behind-antidepressants"


def test_the_version_the_person_saw_is_recorded(api_client, monkeypatch):
    monkeypatch.setitem(CONSENT_TEXTS, "2025-01-sms-v0", "Older wording from {clinic}.")

    api_client.post(URL, payload(consent_version="2025-01-sms-v0"), format="json")

    consent = Consent.objects.get()
    assert consent.text_version == "2025-01-sms-v0"
    assert consent.text_sha256 == consent_text("2025-01-sms-v0").sha256
    assert consent.text_sha256 != consent_text().sha256


def test_an_unknown_consent_version_is_a_field_error(api_client):
    response = api_client.post(URL, payload(consent_version="made-up"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"]["consent_version"] == ["Unknown consent text version."]
    assert Consent.objects.count() == 0


def test_the_client_ip_comes_from_behind_the_configured_proxies(api_client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.2/32"]

    api_client.post(
        URL,
        payload(),
        format="json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.23",
    )

    # The one trusted proxy appended the real client; what came before it is forgeable.
    assert Consent.objects.get().ip_address == "198.51.100.23"


def test_without_proxies_a_forwarded_for_header_is_ignored(api_client):
    api_client.post(
        URL, payload(), format="json", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="6.6.6.6"
    )
    assert Consent.objects.get().ip_address == "192.0.2.10"


def test_a_stored_record_cannot_be_changed_or_deleted():
    consent = submit_lead().consents.get()

    consent.granted = False
    with pytest.raises(ConsentLedgerError):
        consent.save()
    with pytest.raises(ConsentLedgerError):
        consent.delete()
    with pytest.raises(ConsentLedgerError):
        Consent.objects.filter(pk=consent.pk).update(granted=False)
    with pytest.raises(ConsentLedgerError):
        Consent.objects.filter(pk=consent.pk).delete()

    assert Consent.objects.get(pk=consent.pk).granted is True


def test_the_database_refuses_an_update_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    consent = submit_lead().consents.get()

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE intake_consent SET granted = false WHERE id = %s", [consent.pk])

    assert Consent.objects.get(pk=consent.pk).granted is True


def test_erasing_a_lead_takes_its_consent_records_with_it():
    submission = submit_lead()

    submission.lead.delete()

    assert Consent.objects.count() == 0


def test_consent_given_for_another_number_does_not_cover_the_leads_phone():
    from intake.selectors import submission_sms_consent_granted

    first = submit_lead(phone="+12025550111", email="same@example.org", sms_consent=False)
    second = submit_lead(phone="+12025550122", email="same@example.org", sms_consent=True)

    assert second.lead_id == first.lead_id
    assert submission_sms_consent_granted(submission_id=second.pk) is False
