"""Staff sign-in: lockout after repeated failures (django-axes), the TOTP second
factor (django-otp) for personal-data roles, enrolment and backup codes, and the
admin's part in both."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic import roles
from clinic.signin import services
from tests.config.test_settings import PRODUCTION_ENV, SETUP, run_python
from tests.factories import UserFactory
from tests.signin import totp_code, totp_device, verified_login

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"
CONSOLE = "/console/"
VERIFY = "/accounts/two-factor/"
ENROL = "/accounts/two-factor/enrol/"
BACKUP_CODES = "/accounts/two-factor/backup-codes/"


def staff(username: str, *role_names: str, **fields):
    user = UserFactory(username=username, **fields)
    for role in role_names:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


@pytest.fixture
def casey(db):
    return staff("casey", roles.COORDINATOR)


# --- Lockout (django-axes) ---------------------------------------------------------------


def test_five_wrong_passwords_lock_the_username_from_that_address(casey):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(4):
        response = sign_in(client, "casey", "wrong password")
        assert response.status_code == 200
        assert "Please try again" in response.content.decode()
    locked = sign_in(client, "casey", "wrong password")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert locked["Retry-After"] == str(15 * 60)

    # The right password does not help while the lock lasts.
    again = sign_in(client, "casey")
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_holds_one_username_from_one_address_only(casey):
    staff("robin", roles.COORDINATOR)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        sign_in(attacker, "casey", "wrong password")
    assert sign_in(attacker, "casey").status_code == 429

    # Casey at the clinic is not locked out by a stranger elsewhere...
    at_clinic = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(at_clinic, "casey").status_code == 302
    # ...and a colleague behind the same address is not locked out by Casey's typos.
    assert sign_in(Client(REMOTE_ADDR="203.0.113.7"), "robin").status_code == 302


def test_the_lock_lifts_after_the_cool_off(casey):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(5):
            sign_in(client, "casey", "wrong password")
        assert sign_in(client, "casey").status_code == 429
        traveller.shift(timedelta(minutes=14))
        assert sign_in(client, "casey").status_code == 429
        traveller.shift(timedelta(minutes=2))
        assert sign_in(client, "casey").status_code == 302


def test_a_good_sign_in_clears_earlier_failures(casey):
    client = Client()
    for _ in range(4):
        sign_in(client, "casey", "wrong password")
    assert sign_in(client, "casey").status_code == 302
    client.post("/accounts/logout/")
    for _ in range(4):
        assert sign_in(client, "casey", "wrong password").status_code == 200
    assert sign_in(client, "casey").status_code == 302


def test_a_json_caller_is_told_in_the_one_error_shape(casey):
    client = Client()
    for _ in range(5):
        response = sign_in(client, "casey", "wrong password", HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    assert "Try again in 15 minutes" in response.json()["message"]


def test_the_lockout_settings_come_from_the_environment(casey, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    assert sign_in(client, "casey", "wrong password").status_code == 200
    assert sign_in(client, "casey", "wrong password").status_code == 429


def test_an_admin_unlocks_a_locked_out_user(casey):
    client = Client()
    for _ in range(5):
        sign_in(client, "casey", "wrong password")
    attempt = AccessAttempt.objects.get(username="casey")
    # No password in the stored attempt.
    assert "wrong password" not in attempt.post_data

    admin_client = Client()
    verified_login(admin_client, staff("alex", roles.ADMIN, is_staff=True))
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert admin_client.get(changelist).status_code == 200
    response = admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert sign_in(client, "casey").status_code == 302


def test_the_admin_login_is_the_staff_sign_in(client):
    response = client.get(reverse("admin:login") + "?next=/admin/intake/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fintake%2F"


def test_the_admin_site_is_locked_by_the_same_rule(db):
    staff("alex", roles.ADMIN, is_staff=True)
    client = Client()
    for _ in range(5):
        client.post(reverse("login") + "?next=/admin/", {"username": "alex", "password": "nope"})
    assert sign_in(client, "alex").status_code == 429


# --- The second factor ----------------------------------------------------------------------


def test_a_coordinator_gives_a_code_after_the_password(casey):
    device = totp_device(casey)
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert sign_in(client, "casey")["Location"] == CONSOLE
        to_verify = client.get(CONSOLE)
        assert to_verify.status_code == 302
        assert to_verify["Location"] == f"{VERIFY}?next=%2Fconsole%2F"
        page = client.get(to_verify["Location"])
        assert 'autocomplete="one-time-code"' in page.content.decode()

        wrong = client.post(VERIFY, {"token": "000000", "next": CONSOLE})
        assert wrong.status_code == 200
        assert "did not match" in wrong.content.decode()
        assert client.get(CONSOLE).status_code == 302

        traveller.shift(timedelta(seconds=30))  # past django-otp's back-off after a miss
        right = client.post(VERIFY, {"token": totp_code(device), "next": CONSOLE})
        assert right.status_code == 302
        assert right["Location"] == CONSOLE
        assert client.get(CONSOLE).status_code == 200

        # A code is good once: replaying it in another session fails.
        other = Client()
        sign_in(other, "casey")
        replay = other.post(VERIFY, {"token": totp_code(device), "next": CONSOLE})
        assert replay.status_code == 200


def test_verify_refuses_to_send_the_user_to_another_site(casey):
    device = totp_device(casey)
    client = Client()
    sign_in(client, "casey")
    response = client.post(VERIFY, {"token": totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == CONSOLE


def test_a_coordinator_without_an_authenticator_enrols_first(casey):
    client = Client()
    sign_in(client, "casey")
    response = client.get(CONSOLE)
    assert response["Location"] == f"{ENROL}?next=%2Fconsole%2F"

    page = client.get(response["Location"]).content.decode()
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert "<path" in svg
    assert "style=" not in svg and "<script" not in page  # the strict CSP holds
    device = TOTPDevice.objects.get(user=casey)
    assert not device.confirmed
    secret = re.search(r"<code class=\"secret\" data-secret>([A-Z2-7 ]+)</code>", page).group(1)
    assert services.totp_secret_for_manual_entry(device=device) == secret
    # Reloading shows the same secret, not a new device each time.
    client.get(ENROL)
    assert TOTPDevice.objects.filter(user=casey).count() == 1

    wrong = client.post(ENROL, {"token": "123456", "next": CONSOLE})
    assert "did not match" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=False):
        done = client.post(ENROL, {"token": totp_code(device), "next": CONSOLE})
    assert done.status_code == 302
    assert done["Location"] == f"{BACKUP_CODES}?next=%2Fconsole%2F"
    device.refresh_from_db()
    assert device.confirmed

    shown = client.get(done["Location"]).content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", shown)
    assert len(codes) == 10
    stored = set(StaticToken.objects.filter(device__user=casey).values_list("token", flat=True))
    assert stored == set(codes)
    # Shown once.
    assert not re.findall(r"<li><code>", client.get(BACKUP_CODES).content.decode())
    assert client.get(CONSOLE).status_code == 200


def test_a_backup_code_signs_in_once(casey):
    totp_device(casey)
    codes = services.backup_codes_regenerate(user=casey)
    first = Client()
    sign_in(first, "casey")
    assert first.post(VERIFY, {"token": codes[0].upper(), "next": CONSOLE})["Location"] == CONSOLE
    assert first.get(CONSOLE).status_code == 200

    second = Client()
    sign_in(second, "casey")
    assert second.post(VERIFY, {"token": codes[0], "next": CONSOLE}).status_code == 200
    assert second.get(CONSOLE).status_code == 302
    assert StaticToken.objects.filter(device__user=casey).count() == 9


def test_new_backup_codes_replace_the_old_ones(casey):
    client = Client()
    verified_login(client, casey)
    old = services.backup_codes_regenerate(user=casey)
    response = client.post(BACKUP_CODES)
    assert response.status_code == 302
    new = re.findall(
        r"<li><code>([a-z2-7]{8})</code></li>", client.get(BACKUP_CODES).content.decode()
    )
    assert len(new) == 10
    assert not set(old) & set(StaticToken.objects.values_list("token", flat=True))


def test_a_password_alone_cannot_enrol_a_second_authenticator(casey):
    totp_device(casey)
    client = Client()
    sign_in(client, "casey")
    response = client.get(ENROL)
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=casey).count() == 1
    with pytest.raises(services.ApplicationError):
        services.totp_device_start(user=casey)


def test_a_session_api_call_without_the_second_factor_is_refused(casey):
    client = Client()
    client.force_login(casey)
    response = client.get("/api/v1/callbacks/")
    assert response.status_code == 403
    assert response.json() == {
        "code": "otp_required",
        "message": "Verify your second factor (two-factor sign-in) before using the API.",
    }
    verified_login(client, casey)
    assert client.get("/api/v1/callbacks/").status_code == 200


@pytest.mark.parametrize("role", [roles.COORDINATOR, roles.SUPERVISOR, roles.ADMIN])
def test_every_personal_data_role_must_verify(role, db):
    user = staff(f"{role}-person", role, is_staff=role == roles.ADMIN)
    assert services.otp_required_for(user=user)


def test_marketing_may_sign_in_without_a_second_factor(marketer, client):
    assert not services.otp_required_for(user=marketer)
    client.force_login(marketer)
    assert client.get("/reports/").status_code == 200


def test_marketing_who_enrolled_is_asked_for_the_code(marketer, client):
    totp_device(marketer)
    client.force_login(marketer)
    response = client.get("/reports/")
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)


def test_without_otp_required_the_care_team_signs_in_with_a_password(casey, settings, client):
    settings.OTP_REQUIRED = False
    assert sign_in(client, "casey")["Location"] == CONSOLE
    assert client.get(CONSOLE).status_code == 200


def test_the_admin_site_requires_the_second_factor(rf, db):
    alex = staff("alex", roles.ADMIN, is_staff=True)
    totp_device(alex)
    client = Client()
    client.force_login(alex)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=%2Fadmin%2F"

    # The site checks it too, whatever the middleware does.
    request = rf.get("/admin/")
    request.user = alex
    alex.otp_device = None
    alex.is_verified = lambda: False
    request.session = {}
    assert not admin.site.has_permission(request)

    verified_login(client, alex)
    assert client.get("/admin/").status_code == 200


def test_an_admin_resets_a_lost_phone(casey):
    totp_device(casey)
    services.backup_codes_regenerate(user=casey)
    admin_client = Client()
    verified_login(admin_client, staff("alex", roles.ADMIN, is_staff=True))
    response = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [casey.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=casey).exists()
    assert not StaticDevice.objects.filter(user=casey).exists()

    client = Client()
    sign_in(client, "casey")
    assert client.get(CONSOLE)["Location"].startswith(ENROL)


def test_otp_required_false_is_refused_outside_development():
    for env in ({"DJANGO_ENV": "test"}, PRODUCTION_ENV):
        result = run_python(SETUP, {**env, "OTP_REQUIRED": "false"})
        assert result.returncode != 0
        assert "OTP_REQUIRED may be false only when DJANGO_ENV=development" in result.stderr


def test_otp_required_false_is_allowed_in_development():
    result = run_python(
        SETUP + "; from django.conf import settings; print(settings.OTP_REQUIRED)",
        {"DJANGO_ENV": "development", "OTP_REQUIRED": "false"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_demo_users_sign_in_with_a_password_when_development_relaxes_otp(db, settings):
    settings.OTP_REQUIRED = False
    settings.DEMO_PASSWORD = "demo password for the day"
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "two-factor" not in out.getvalue()
    client = Client()
    assert sign_in(client, "coordinator", settings.DEMO_PASSWORD)["Location"] == CONSOLE
    assert client.get(CONSOLE).status_code == 200


def test_seed_demo_tells_how_the_care_team_enrols(db, settings):
    settings.DEMO_PASSWORD = "demo password for the day"
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "enrol an authenticator app at their first sign-in" in out.getvalue()
    client = Client()
    sign_in(client, "coordinator", settings.DEMO_PASSWORD)
    assert client.get(CONSOLE)["Location"].startswith(ENROL)


def test_lockout_logs_carry_no_username_or_address(casey, caplog):
    client = Client(REMOTE_ADDR="203.0.113.7")
    with caplog.at_level("INFO"):
        for _ in range(5):
            sign_in(client, "casey", "wrong password")
    axes_lines = [
        record.getMessage() for record in caplog.records if record.name.startswith("axes")
    ]
    assert any("path=/accounts/login/" in line for line in axes_lines)
    assert not [line for line in axes_lines if "casey" in line or "203.0.113.7" in line]
