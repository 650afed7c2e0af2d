from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

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
    "CLINIC_CALLER_ID": "+15005550006",
    "PUBLIC_BASE_URL": "https://clinic.example",
    "FIELD_ENCRYPTION_KEYS": "_WmvoFGvaOgOrvzgocvXbXYE5SZOz-qDPS5E23iyI6U=",
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


# --- Production refuses example secrets and DEBUG ------------------------------------

# Names in .env.example that hold secrets: those named like one (*SECRET, *TOKEN,
# *PASSWORD, *KEY, *KEYS, and their *_FALLBACKS), and URLs with a password in them.
# Public keys are not secrets, nor is an API key's SID (its secret is TWILIO_API_SECRET).
PUBLIC_NAMED_LIKE_SECRETS = {"CAPTCHA_SITE_KEY", "TWILIO_API_KEY"}


def env_example_secrets() -> list[tuple[str, str]]:
    """(name, value) of every secret in .env.example, commented-out defaults included."""
    found = []
    text = (BASE_DIR / ".env.example").read_text()
    for match in re.finditer(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE):
        name, value = match.group(1), match.group(2).strip().strip("\"'")
        named_like_one = re.search(r"(SECRET|TOKEN|PASSWORD|KEYS?)(_FALLBACKS)?$", name)
        url_password = "://" in value and urlsplit(value).password
        if value and name not in PUBLIC_NAMED_LIKE_SECRETS and (named_like_one or url_password):
            found.append((name, value))
    return found


# Loads production settings once per case in one interpreter: one process, not twenty.
EACH_CASE = """
import importlib, json, os, sys
from django.core.exceptions import ImproperlyConfigured
base = dict(os.environ)
answers = {}
for label, overrides in json.loads(sys.argv[1]).items():
    os.environ.clear()
    os.environ.update({**base, **overrides})
    sys.modules.pop("config.settings", None)
    try:
        importlib.import_module("config.settings")
        answers[label] = None
    except ImproperlyConfigured as error:
        answers[label] = str(error)
print(json.dumps(answers))
"""


def production_answers(cases: dict[str, dict[str, str]]) -> dict[str, str | None]:
    """For each case, the ImproperlyConfigured message production settings raise with
    ``PRODUCTION_ENV`` plus the case's variables, or None if they load."""
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DJANGO_ENV"}
    result = subprocess.run(
        [sys.executable, "-c", EACH_CASE, json.dumps(cases)],
        cwd=BASE_DIR,
        env={**clean, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def as_setting(name: str, value: str) -> dict[str, str]:
    """The variables that carry ``value`` of .env.example's ``name`` into the settings."""
    if name == "POSTGRES_PASSWORD":  # compose builds DATABASE_URL from it
        return {"DATABASE_URL": f"postgres://clinic:{value}@postgres:5432/clinic"}
    if name == "CAPTCHA_SECRET":
        return {"CAPTCHA_PROVIDER": "turnstile", name: value}
    if name == "TWILIO_API_SECRET":  # the softphone's three settings go together
        return {
            "TWILIO_API_KEY": "SK" + "1" * 32,
            "TWILIO_TWIML_APP_SID": "AP" + "1" * 32,
            name: value,
        }
    return {name: value}


def test_every_secret_of_the_env_example_is_refused_in_production():
    secrets = env_example_secrets()
    names = {name for name, _ in secrets}
    # The parse found the secrets (a guard against a parser that finds nothing).
    assert {
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "LOOKUP_HASH_KEY",
        "POSTGRES_PASSWORD",
        "EMAIL_URL",
        "TWILIO_AUTH_TOKEN",
        "METRICS_TOKEN",
        "CAPTCHA_SECRET",
        "REPORTS_DATABASE_URL",
        "TWILIO_API_SECRET",
        "WEBHOOK_SECRET",
    } <= names

    answers = production_answers({name: as_setting(name, value) for name, value in secrets})

    for name, value in secrets:
        message = answers[name]
        assert message is not None, f"production started with .env.example's {name}"
        assert "example" in message, message
        assert value not in message, "the refusal must not repeat the secret"


def test_production_refuses_placeholders_and_the_example_key_in_lists_and_urls():
    answers = production_answers(
        {
            "second key": {
                "FIELD_ENCRYPTION_KEYS": PRODUCTION_ENV["FIELD_ENCRYPTION_KEYS"]
                + ",Y2hhbmdlLW1lLWdlbmVyYXRlLWEtZmVybmV0LWtleSE="
            },
            "edited placeholder": {"SECRET_KEY": "CHANGE-ME-please-0123456789abcdef0123456789"},
            "fallback": {"SECRET_KEY_FALLBACKS": "change-me-old-key"},
            "twilio fallback": {"TWILIO_AUTH_TOKEN_FALLBACKS": "change-me-old-token"},
            "email password": {"EMAIL_URL": "smtp+tls://apikey:change-me@smtp.example:587"},
        }
    )
    assert all(answers.values()), answers
    assert "FIELD_ENCRYPTION_KEYS" in answers["second key"]
    assert "SECRET_KEY" in answers["edited placeholder"]
    assert "SECRET_KEY_FALLBACKS" in answers["fallback"]
    assert "TWILIO_AUTH_TOKEN_FALLBACKS" in answers["twilio fallback"]
    assert "EMAIL_URL" in answers["email password"]


def test_production_refuses_debug():
    answers = production_answers({"debug": {"DEBUG": "true"}, "no debug": {"DEBUG": "false"}})
    assert answers["debug"] == "DEBUG must be false when DJANGO_ENV=production"
    assert answers["no debug"] is None


def test_development_and_tests_keep_their_example_values():
    result = run_python(
        SETUP + "; from django.conf import settings as s; print(s.DEBUG)",
        {
            "DJANGO_ENV": "development",
            "DEBUG": "true",
            "SECRET_KEY": "change-me-to-the-output-of-secrets-token-urlsafe-50-before-deploying",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_webhook_urls_are_read_with_the_covered_mark():
    result = run_python(
        SETUP + "; from django.conf import settings as s; print(s.WEBHOOK_ENDPOINTS)",
        {
            "DJANGO_ENV": "development",
            "WEBHOOK_URLS": "https://crm.example/hooks,covered+https://emr.example/in",
            "WEBHOOK_SECRET": "w" * 40,
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "[{'url': 'https://crm.example/hooks', 'covered': False}, "
        "{'url': 'https://emr.example/in', 'covered': True}]"
    )


def test_production_refuses_webhooks_without_a_secret_or_over_plain_http():
    secret = "a-webhook-secret-that-is-long-and-random-0123456789"
    answers = production_answers(
        {
            "no secret": {"WEBHOOK_URLS": "https://emr.example/in"},
            "short secret": {"WEBHOOK_URLS": "https://emr.example/in", "WEBHOOK_SECRET": "short"},
            "http": {"WEBHOOK_URLS": "http://emr.example/in", "WEBHOOK_SECRET": secret},
            "credentials": {
                "WEBHOOK_URLS": "https://user:pw@emr.example/in",
                "WEBHOOK_SECRET": secret,
            },
            "not a url": {"WEBHOOK_URLS": "covered+emr.example", "WEBHOOK_SECRET": secret},
            "good": {"WEBHOOK_URLS": "covered+https://emr.example/in", "WEBHOOK_SECRET": secret},
        }
    )
    assert "WEBHOOK_SECRET" in answers["no secret"]
    assert "WEBHOOK_SECRET" in answers["short secret"]
    assert "https" in answers["http"]
    assert "credentials" in answers["credentials"]
    assert "http(s) URL" in answers["not a url"]
    assert answers["good"] is None
