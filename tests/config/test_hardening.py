"""Security headers on the pages people and staff see, and a configurable admin path."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from config.logs import redact_text
from notifications.conversations import lead_id_of
from scheduling import call_webhooks, recording_webhooks
from tests.config.test_settings import PRODUCTION_ENV, run_python
from tests.factories import ArticleFactory, UserFactory
from tests.signin import verified_login


@pytest.fixture
def coordinator_client(client, db):
    user = UserFactory(username="hardening-coordinator")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    verified_login(client, user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/articles/", "/articles/hardening/", "/accounts/login/"])
def test_public_pages_allow_only_their_own_scripts_and_are_never_framed(client, path):
    ArticleFactory(slug="hardening")
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_the_console_has_the_strict_policy(coordinator_client):
    response = coordinator_client.get("/console/")
    assert response.status_code == 200
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert b"<script>" not in response.content and b" style=" not in response.content


def test_the_api_docs_relax_styles_only(coordinator_client):
    response = coordinator_client.get("/api/docs/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy + ";"
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert b"<script>" not in response.content  # the split view serves its script as a file


def test_the_admin_path_comes_from_admin_url():
    result = run_python(
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; "
        "django.setup(); from django.urls import reverse, resolve, Resolver404; "
        "print(reverse('admin:index'))\n"
        "try:\n    resolve('/admin/'); print('still-at-admin')\n"
        "except Resolver404:\n    print('gone')",
        {**PRODUCTION_ENV, "ADMIN_URL": "staff-door-4821/"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/staff-door-4821/", "gone"]


def test_logs_mask_phones_emails_and_signed_links():
    text = "from +12025550143 or (202) 555-0143, maria@example.org, /r/eyJsZWFkIjo1fQ:1abc:x/"
    assert redact_text(text) == "from [phone] or [phone], [email], /r/[token]/"


def test_logs_mask_the_booking_and_waitlist_offer_links():
    """A booking link (/b/) and a waitlist offer's link (/w/) book care for whoever
    holds them; a 400 or 409 from their pages is logged with the path ("Bad Request:
    /b/<token>/"), so they are masked like the request and appointment links."""
    text = "Bad Request: /b/eyJsIjo1LCJuIjoiYWJjIn0:1abc:x/ Conflict: /w/eyJvIjoyLCJlIjozfQ:1xY:q/"
    assert redact_text(text) == "Bad Request: /b/[token]/ Conflict: /w/[token]/"
    assert redact_text("task 6b4ec344-df20-4d75 took 0.017s, lead 42") == (
        "task 6b4ec344-df20-4d75 took 0.017s, lead 42"
    )


@pytest.mark.parametrize(
    "name", ["manage:request", "manage:appointment", "manage:booking", "manage:waitlist-offer"]
)
def test_a_page_behind_a_link_is_never_cached(client, db, name):
    """What a link's page shows (a person's consultation, their times, a form that books
    care) must not be kept by a shared computer's browser or a proxy for the next
    person to read back; nor its refusal, which says the link existed."""
    response = client.get(reverse(name, args=["eyJhIjoxfQ:1abc:forged"]))

    assert response.status_code in (400, 404)
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_logs_drop_query_strings_which_carry_what_a_visitor_link_said():
    text = "Not Found: /articles/x/?utm_campaign=maria-lopez&utm_source=news (is it?)"
    assert redact_text(text) == "Not Found: /articles/x/?[query] (is it?)"
    assert "maria" not in redact_text("<WSGIRequest: GET '/r/abc/?utm_term=maria'>")


def test_a_request_id_is_echoed_or_made(client, caplog, db):
    caplog.set_level(logging.INFO)
    assert client.get("/articles/", HTTP_X_REQUEST_ID="abc-123-def-456")["X-Request-ID"] == (
        "abc-123-def-456"
    )
    made = client.get("/articles/", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"]
    assert len(made) == 32 and made != "bad id\n"


@pytest.mark.parametrize("value", ["²", "12³", "①"])
def test_numbers_from_outside_are_read_as_numbers_only_when_int_takes_them(value):
    """'²' passes str.isdigit() but int() refuses it: a Twilio field or a correlation
    carrying one answered 500. Each reader now takes decimals only (isdecimal)."""
    assert lead_id_of(f"lead:{value}") is None
    assert call_webhooks._call_id(value) == 0
    assert call_webhooks._seconds(value) is None
    assert recording_webhooks._seconds(value) is None
    assert call_webhooks._seconds("٣") == 3  # a decimal digit of another script is a number
