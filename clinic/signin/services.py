"""Staff sign-in rules: who must pass a second factor, TOTP enrolment, backup
codes, and API tokens for integrations. Views, admin actions and the
``api_token`` command call these; they do not decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import qrcode
import qrcode.image.svg
import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device, verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from knox.settings import CONSTANTS

from clinic import roles
from clinic.errors import ApplicationError
from clinic.proxies import client_address

logger = structlog.get_logger("clinic.signin")

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


# --- django-axes hooks ----------------------------------------------------------------


def signin_client_ip(request: HttpRequest) -> str | None:
    """The client's address as the API throttles see it (behind ``TRUSTED_PROXIES``):
    what django-axes counts failures against."""
    return client_address(request)


def signin_client_str(
    username: str | None, ip_address: str | None, user_agent: str | None, path_info: Any, request
) -> str:
    """What django-axes writes in its log lines: the path only. Usernames and
    addresses stay in its AccessAttempt table, which only admins see."""
    path = path_info[0] if isinstance(path_info, tuple) else path_info
    return f"path={path}"


# --- Who must pass a second factor ----------------------------------------------------


def otp_required_for(*, user: Any) -> bool:
    """True when ``user`` must verify a second factor before anything else: every
    personal-data role while ``OTP_REQUIRED`` is on, and anyone who enrolled a
    device (an enrolment is never ignored, even for marketing or in development)."""
    if not user.is_authenticated:
        return False
    if settings.OTP_REQUIRED and roles.has_role(user, *roles.CARE_TEAM):
        return True
    return user_has_device(user, confirmed=True)


def otp_satisfied(*, request: HttpRequest) -> bool:
    """True when the session's user needs no second factor or has passed one."""
    user = request.user
    if not user.is_authenticated:
        return True
    verified = getattr(user, "is_verified", None)
    if verified is not None and verified():
        return True
    return not otp_required_for(user=user)


def totp_device_for(*, user: Any) -> TOTPDevice | None:
    """The user's confirmed authenticator, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


# --- Enrolment -----------------------------------------------------------------------


def totp_device_start(*, user: Any) -> TOTPDevice:
    """The unconfirmed authenticator the enrolment page shows, made once and kept
    until confirmed (reloading the page keeps the same secret). Refused when the
    user already has a confirmed one: replacing it is an admin's reset."""
    if totp_device_for(user=user) is not None:
        raise ApplicationError(
            "Two-factor sign-in is already set up. Ask an admin to reset it.",
            code="otp_enrolled",
            status_code=409,
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_qr_svg(*, device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG QR code (no script, no style
    attribute, so the strict Content-Security-Policy allows it)."""
    image = qrcode.make(
        device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2
    )
    svg = image.to_string(encoding="unicode")
    # Drop the XML declaration: the SVG is embedded in an HTML page.
    return svg[svg.index("<svg") :]


def totp_secret_for_manual_entry(*, device: TOTPDevice) -> str:
    """The base32 secret in groups of four, as authenticator apps ask for it."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def totp_device_confirm(*, user: Any, device: TOTPDevice, token: str) -> list[str]:
    """Confirm ``device`` with a code from the app and give the user fresh backup
    codes (returned once, stored only as single-use tokens). Raises
    ``ApplicationError`` with a field error when the code is wrong."""
    if device.user_id != user.pk or device.confirmed:
        raise ApplicationError("This enrolment is no longer open.", code="otp_enrolled")
    if not _clean_token(token).isdigit() or not device.verify_token(_clean_token(token)):
        raise ApplicationError(
            "That code did not match.",
            fields={"token": ["That code did not match. Check the time on your phone."]},
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    logger.info("signin.otp_enrolled", user_id=user.pk)
    return backup_codes_regenerate(user=user)


@transaction.atomic
def backup_codes_regenerate(*, user: Any) -> list[str]:
    """Replace the user's backup codes with ``OTP_BACKUP_CODES`` new single-use ones."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.OTP_BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def otp_verify(*, user: Any, token: str):
    """The device that accepts ``token`` (six digits from the app, or an unused
    backup code, which is then spent), or None. django-otp's throttling slows
    repeated wrong codes per device."""
    token = _clean_token(token)
    if not token:
        return None
    model = TOTPDevice if token.isdigit() else StaticDevice
    for device in model.objects.filter(user=user, confirmed=True):
        verified = verify_token(user, device.persistent_id, token)
        if verified is not None:
            return verified
    return None


@transaction.atomic
def otp_devices_reset(*, user: Any) -> int:
    """Remove every second-factor device of ``user`` (lost phone): the next sign-in
    asks them to enrol again. Returns how many devices were removed."""
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    logger.info("signin.otp_reset", user_id=user.pk)
    return removed


def session_otp_device_id(*, request: HttpRequest) -> str | None:
    return request.session.get(DEVICE_ID_SESSION_KEY)


def _clean_token(token: str) -> str:
    return "".join(token.split()).replace("-", "").lower()


# --- API tokens for integrations ---------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiToken:
    token: AuthToken
    secret: str  # shown once; only its hash is stored


def api_token_create(*, username: str, ttl_days: int | None = None) -> IssuedApiToken:
    """A new token acting as ``username`` with that user's roles. ``ttl_days``
    defaults to ``API_TOKEN_TTL_DAYS``; 0 means no expiry."""
    User = get_user_model()
    try:
        user = User.objects.get(username=username)
    except User.DoesNotExist:
        raise ApplicationError(
            "No such user.", fields={"username": [f"No user named {username!r}."]}
        ) from None
    if not user.is_active:
        raise ApplicationError("That user is inactive.", fields={"username": ["Inactive user."]})
    days = settings.API_TOKEN_TTL_DAYS if ttl_days is None else ttl_days
    if days < 0:
        raise ApplicationError("Invalid lifetime.", fields={"ttl_days": ["Must be 0 or more."]})
    expiry = timedelta(days=days) if days else None
    token, secret = AuthToken.objects.create(user=user, expiry=expiry)
    logger.info("signin.api_token_created", user_id=user.pk, token_key=token.token_key)
    return IssuedApiToken(token=token, secret=secret)


def api_tokens_list(*, username: str | None = None) -> list[AuthToken]:
    """Tokens not yet expired, newest first (identified by their non-secret key)."""
    tokens = AuthToken.objects.select_related("user").order_by("-created")
    tokens = tokens.exclude(expiry__lt=timezone.now())
    if username:
        tokens = tokens.filter(user__username=username)
    return list(tokens)


def api_token_revoke(*, token_key: str) -> int:
    """Revoke the token(s) whose key (the first characters of the secret, shown in
    lists) is ``token_key``. Returns how many were revoked."""
    if len(token_key) < CONSTANTS.TOKEN_KEY_LENGTH:
        raise ApplicationError(
            "Token key too short.",
            fields={"token_key": [f"Give all {CONSTANTS.TOKEN_KEY_LENGTH} characters."]},
        )
    revoked = AuthToken.objects.filter(token_key=token_key[: CONSTANTS.TOKEN_KEY_LENGTH]).delete()
    logger.info("signin.api_token_revoked", token_key=token_key, count=revoked[0])
    return revoked[0]


def api_token_expiry_text(expiry: datetime | None) -> str:
    return "never" if expiry is None else expiry.isoformat(timespec="minutes")
