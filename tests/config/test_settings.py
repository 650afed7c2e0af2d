from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import RequestFactory

from notifications.views import dev_outbox

BASE_DIR = settings.BASE_DIR
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-0123456789abcdef",
    "ALLOWED_HOSTS": "clinic.example",
    "DATABASE_URL": "postgres://clinic:secret@db.example:5432/clinic",
    "REDIS_URL": "redis://redis.example:6379/0",
    "EMAIL_URL": "smtp+tls://user:pass@smtp.example:587",
    "SMS_BACKEND": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_FROM_NUMBER": "+15005550006",
    "PUBLIC_BASE_URL": "https://clinic.example",
    "FIELD_ENCRYPTION_KEYS": "Y2hhbmdlLW1lLWdlbmVyYXRlLWEtZmVybmV0LWtleSE=",
    "LOOKUP_HASH_KEY": "a-production-lookup-hash-key-that-is-long-and-random-0123456789",
}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DJANGO_ENV"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


SETUP = "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()"


def test_production_starts_with_every_required_setting():
    result = run_python(SETUP, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "FIELD_ENCRYPTION_KEYS",
        "LOOKUP_HASH_KEY",
    ],
)
def test_production_refuses_to_start_without(name):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != name}
    result = run_python(SETUP, env)
    assert result.returncode != 0
    assert f"{name} must be set when DJANGO_ENV=production" in result.stderr


def test_production_passes_the_deploy_checks():
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line; "
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; "
        "execute_from_command_line(['manage.py','check','--deploy','--fail-level','WARNING'])",
        PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_development_needs_nothing_but_python():
    result = run_python(
        SETUP + "; from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.SMS_BACKEND)",
        {"DJANGO_ENV": "development", "DATABASE_URL": "", "REDIS_URL": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "console"]


def test_healthz_answers_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_dev_outbox_does_not_exist_outside_development(client):
    assert client.get("/dev/outbox/").status_code == 404


@pytest.mark.django_db
def test_the_dev_outbox_lists_sent_messages_in_development(settings):
    from notifications.models import Message

    Message.objects.create(
        channel="sms", purpose="confirmation", recipient="+12025550143", body="Hi Maria"
    )
    settings.DEVELOPMENT = True

    response = dev_outbox(RequestFactory().get("/dev/outbox/"))

    assert response.status_code == 200
    assert "Hi Maria" in response.content.decode()


def test_the_openapi_schema_builds_without_warnings():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            os.devnull,
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_ENV": "test"},
    )
    assert result.returncode == 0, result.stderr


def test_production_refuses_to_start_without_the_public_url_twilio_calls_back():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "PUBLIC_BASE_URL"}
    result = run_python(SETUP, env)
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL must be set" in result.stderr


def test_healthz_answers_a_probe_by_ip_address_before_host_checks(client):
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200


def test_a_link_signed_before_a_secret_key_rotation_still_opens_with_the_fallback(settings):
    from scheduling.links import appointment_id, appointment_manage_url

    old_key = "the-old-secret-key-before-rotation-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY = old_key
    token = appointment_manage_url(appointment_id=42).rstrip("/").rsplit("/", 1)[-1]
    assert appointment_id(token) == 42

    settings.SECRET_KEY = "the-new-secret-key-after-rotation-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = []
    assert appointment_id(token) is None
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert appointment_id(token) == 42


def test_secret_key_fallbacks_are_read_from_the_environment():
    result = run_python(
        SETUP + "; from django.conf import settings as s; print(s.SECRET_KEY_FALLBACKS)",
        {"DJANGO_ENV": "development", "SECRET_KEY_FALLBACKS": "old-one,older-one"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['old-one', 'older-one']"
