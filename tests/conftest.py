from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient

from clinic import business_time
from intake.services import article_slug_cache_clear
from notifications.backends import LocmemSmsBackend
from notifications.services import message_templates_forget
from notifications.voice import LocmemVoiceBackend
from tests import fast_flush
from tests.factories import UserFactory

# The fake Twilio server's fixtures, defined once for the whole suite: a session
# fixture imported into several modules would start one server per module.
from tests.fake_twilio import fake_twilio_fixture, fake_twilio_server  # noqa: F401

# Transactional tests empty only the tables that hold rows (tests/fast_flush.py).
fast_flush.install()


@pytest.fixture(autouse=True)
def _isolated_state() -> Iterator[None]:
    """Each test starts with an empty SMS outbox and cache (throttles, rate limits)."""
    LocmemSmsBackend.outbox.clear()
    LocmemSmsBackend.failures.clear()
    LocmemVoiceBackend.reset()
    cache.clear()
    business_time.forget()
    article_slug_cache_clear()  # a rolled-back test's articles must not be remembered
    message_templates_forget()  # nor its edited message templates
    yield
    business_time.forget()
    LocmemSmsBackend.outbox.clear()
    LocmemSmsBackend.failures.clear()
    LocmemVoiceBackend.reset()


@pytest.fixture
def outside_quiet_hours(settings) -> None:
    """For a test about something else that sends a text held by quiet hours (a
    follow-up, a staff text, a reminder): texts may go at any hour but the day's last
    microsecond, so the test passes whatever the hour in New York when it runs.
    Quiet hours themselves are tested at fixed times (tests/notifications/test_quiet_hours.py)."""
    settings.QUIET_HOURS_END = "00:00"
    settings.QUIET_HOURS_START = "23:59:59.999999"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def routed_api_client(api_client, django_capture_on_commit_callbacks) -> APIClient:
    """An API client whose every POST is followed by the worker's part (attaching the
    lead, the consent ledger, routing, delivery), as the after-commit hand-off would
    run it: the test's transaction never commits."""
    post = api_client.post

    def post_then_route(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(*args, **kwargs)

    api_client.post = post_then_route
    return api_client


@pytest.fixture
def sms_outbox() -> list:
    return LocmemSmsBackend.outbox


def _user_with_role(role: str):
    user = UserFactory(username=f"{role}-user")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def coordinator(db):
    return _user_with_role("coordinator")


@pytest.fixture
def supervisor(db):
    return _user_with_role("supervisor")


@pytest.fixture
def marketer(db):
    return _user_with_role("marketing")


@pytest.fixture
def route(django_capture_on_commit_callbacks):
    """Route a submission as the worker would, running its after-commit work
    (message delivery) inline, since the test's transaction never commits."""
    from scheduling.services import submission_route

    def run(submission):
        with django_capture_on_commit_callbacks(execute=True):
            return submission_route(submission_id=submission.pk)

    return run
