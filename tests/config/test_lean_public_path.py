"""The public endpoints skip the staff middleware: no session, user, second factor,
idle timeout, lockout or audit context is needed to answer an anonymous reader
(issue 13). Everything else still gets all of it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ArticleFactory, UserFactory
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

STAFF_TABLES = ("django_session", "auth_user", "auth_group", "otp_", "axes_", "audit")
LEAD = {
    "first_name": "Maria",
    "phone": "+12025550143",
    "email": "maria@example.org",
    "article": "science-behind-antidepressants",
}


def _touched(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if any(table in query["sql"] for table in STAFF_TABLES)
    ]


def test_a_public_post_touches_no_session_or_auth_table(api_client):
    ArticleFactory(slug="science-behind-antidepressants")
    # Even with a staff member's cookies, as a coordinator reading the article would.
    user = UserFactory()
    api_client.force_login(user)

    with CaptureQueriesContext(connection) as queries:
        response = api_client.post("/api/v1/leads/", LEAD, format="json")

    assert response.status_code == 201
    assert queries.captured_queries, "the submission was stored"
    assert _touched(queries) == []
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"  # security headers stay
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/events/", {"article": "science", "type": "article_view"}),
        ("get", "/api/v1/cta/", None),
    ],
)
def test_the_beacon_and_the_cta_configuration_touch_no_table_of_staff(
    api_client, method, path, body
):
    api_client.force_login(UserFactory())
    with CaptureQueriesContext(connection) as queries:
        response = getattr(api_client, method)(path, body, format="json")

    assert response.status_code in (200, 204)
    assert _touched(queries) == []


def test_the_console_still_has_its_session_user_and_second_factor(client):
    user = UserFactory()
    verified_login(client, user)

    with CaptureQueriesContext(connection) as queries:
        client.get("/console/")

    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "django_session" in sql and "auth_user" in sql


def test_the_checks_that_look_for_the_staff_middleware_still_find_it():
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.utils.module_loading import import_string

    classes = [import_string(path) for path in settings.MIDDLEWARE]
    assert any(issubclass(cls, SessionMiddleware) for cls in classes)
    assert any(issubclass(cls, AuthenticationMiddleware) for cls in classes)
