"""A new coordinator's first sign-in, in Chromium: password, enrol an authenticator
from the page (the QR code is inline SVG; the key is typed in as a phone would
read it), note the backup codes, reach the console. Nothing breaks the strict
Content-Security-Policy on the way."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import Group
from django_otp.oath import TOTP

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def code_from_secret(secret: str) -> str:
    """What an authenticator app shows for a manually entered key."""
    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    return f"{TOTP(key).token():06d}"


def test_a_new_coordinator_enrols_and_reaches_the_console(open_page, live_server):
    user = UserFactory(username="casey")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    page, log = open_page(allowed=())
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto(f"{live_server.url}/console/")
    page.get_by_label("Username").fill("casey")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/enrol/?next=%2Fconsole%2F")

    qr = page.locator("figure.qr svg")
    assert qr.is_visible()
    box = qr.bounding_box()
    assert box["width"] > 150 and box["height"] > 150
    secret = page.locator("[data-secret]").inner_text()
    page.get_by_label("Code", exact=True).fill(code_from_secret(secret))
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(f"{live_server.url}/accounts/two-factor/backup-codes/?next=%2Fconsole%2F")
    assert page.locator("[data-backup-codes] li").count() == 10
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/console/")
    assert page.get_by_role("heading", name="Callback queue").is_visible()
    assert not violations
    assert not log.foreign()
