"""Encryption at rest for free text, and keyed hashes for looking people up.

``EncryptedTextField`` stores a Fernet token (AES-128-CBC with HMAC-SHA256, from the
``cryptography`` library) and gives Python a ``str``. Keys come from
``FIELD_ENCRYPTION_KEYS``: the first encrypts, every one decrypts, so a new key is put
first, ``manage.py rotate_encryption_keys`` re-encrypts every row with it, and then the
old key can go. An empty value is stored as "" (not encrypted), so ``blank`` fields
and ``field=""`` filters work; no other lookup can work on ciphertext, so none is
allowed (a filter on an encrypted column is an error, never a silent empty result).

``lookup_hash`` is HMAC-SHA256 under ``LOOKUP_HASH_KEY`` of a normalised phone number
(E.164) or email address (its mailbox, :func:`mailbox_canonical`): equal values give
equal hashes, so columns of them deduplicate and find people without storing the value
itself, and without the key nobody can test guesses against them. That key is never rotated: a
new key would orphan every stored hash, the opt-outs among them.

Why not a library: django-fernet-encrypted-fields (the maintained one) derives its
keys from ``SECRET_KEY``, stores "" as NULL (our text columns are NOT NULL), returns
the ciphertext as the value when no key fits, and lets ``filter(field=...)`` run and
match nothing; django-cryptography is unmaintained since 2022.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache
from typing import Any

import idna
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.db.models.lookups import Exact, IsNull
from phonenumber_field.phonenumber import to_python

# Every Fernet token starts with its version byte (0x80) and a 64-bit time stamp whose
# high bytes are zero for the next few thousand years: "gAAAAA" in base64.
FERNET_MAGIC = "gAAAAA"


class DecryptionError(ImproperlyConfigured):
    """A stored value fits none of ``FIELD_ENCRYPTION_KEYS`` (a key was removed too early)."""


@cache
def _fernets() -> tuple[Fernet, ...]:
    try:
        return tuple(Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS)
    except ValueError as error:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes)"
        ) from error


@cache
def field_keys() -> MultiFernet:
    """Every configured key; the first encrypts."""
    return MultiFernet(list(_fernets()))


def primary_key() -> Fernet:
    return _fernets()[0]


def _forget_keys(*, setting: str, **kwargs: Any) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernets.cache_clear()
        field_keys.cache_clear()


setting_changed.connect(_forget_keys, dispatch_uid="clinic.crypto.forget_keys")


def encrypt_text(value: str) -> str:
    """A Fernet token of ``value`` under the first key; "" stays ""."""
    if value == "":
        return ""
    return field_keys().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    """The text in ``token``; raises ``DecryptionError`` if no key fits."""
    if token == "":
        return ""
    try:
        return field_keys().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError) as error:
        raise DecryptionError(
            "An encrypted value fits none of FIELD_ENCRYPTION_KEYS: was a key removed "
            "before rotate_encryption_keys finished?"
        ) from error


def is_token(value: str) -> bool:
    """``value`` decrypts under one of the keys (so it is not plain text)."""
    if not value.startswith(FERNET_MAGIC):
        return False
    try:
        field_keys().decrypt(value.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def is_current_token(value: str) -> bool:
    """``value`` is encrypted under the first key already (rotation skips it)."""
    try:
        primary_key().decrypt(value.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def rotate_token(token: str) -> str:
    """``token`` re-encrypted under the first key (MultiFernet.rotate)."""
    return field_keys().rotate(token.encode("ascii")).decode("ascii")


class EmptyOnlyExact(Exact):
    """``field=""`` only: any other value could never match its ciphertext."""

    def get_prep_lookup(self) -> Any:
        if hasattr(self.rhs, "resolve_expression") or self.rhs != "":
            raise FieldError(
                f"{self.lhs.output_field.name} is encrypted: it can only be compared with ''."
            )
        return super().get_prep_lookup()


class EncryptedTextField(models.TextField):
    """Free text a person wrote (or that names them), encrypted in the database."""

    description = "Text encrypted with FIELD_ENCRYPTION_KEYS"
    _lookups = {"exact": EmptyOnlyExact, "isnull": IsNull}

    def get_lookup(self, lookup_name: str) -> Any:
        return self._lookups.get(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None:
            return value
        return decrypt_text(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)


def encrypted_columns() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with encrypted fields, and the fields' column names."""
    found = []
    for model in apps.get_models():
        columns = [
            field.column
            for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField)
        ]
        if columns:
            found.append((model, columns))
    return found


# --- Keyed hashes ---------------------------------------------------------------------


def lookup_hash(normalised: str) -> str:
    """HMAC-SHA256 (hex) of an already normalised value; "" for ""."""
    if not normalised:
        return ""
    key = settings.LOOKUP_HASH_KEY.encode("utf-8")
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def normalised_phone(phone: object) -> str:
    """A phone number in E.164 when it parses (default region PHONE_DEFAULT_REGION),
    else its stripped text; "" for none."""
    if not phone:
        return ""
    number = to_python(phone) if not hasattr(phone, "as_e164") else phone
    if number is not None and hasattr(number, "is_valid") and number.is_valid():
        return number.as_e164
    return str(phone).strip()


# Mail providers that ignore dots in the local part, and the domain each is known by.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def _domain_canonical(domain: str) -> str:
    """A mail domain in one spelling: lower case, no trailing dot, international names
    in their ASCII (punycode) form, as IDNA 2008 with UTS 46 mapping spells them."""
    domain = domain.strip().rstrip(".")
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        # Not a valid international name: the same text gives the same mailbox anyway.
        return domain.casefold()


def mailbox_canonical(email: str | None) -> str:
    """The mailbox an address delivers to, in one spelling, "" for none.

    Per-address limits, lookup hashes and "one confirmation a day" count mailboxes,
    not spellings: otherwise "Dana.Smith+x@GoogleMail.com" and "danasmith@gmail.com"
    would be two people to every rule. Case is folded, a ``+tag`` is dropped (every
    large provider delivers it to the same mailbox), dots are dropped in Gmail's local
    parts (googlemail.com is gmail.com), and the domain is spelled as
    :func:`_domain_canonical` says. Only for comparing: the address is stored and
    mailed as it was given."""
    text = (email or "").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local:
        return text.casefold()
    local = local.casefold()
    base = local.split("+", 1)[0]
    local = base or local  # "+tag@..." alone is a mailbox of its own
    domain = _domain_canonical(domain)
    if domain in _DOTLESS_DOMAINS:
        domain = _DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def phone_hash(phone: object) -> str:
    """The lookup hash of a phone number (any format that parses), "" for none."""
    return lookup_hash(normalised_phone(phone))


def email_hash(email: str | None) -> str:
    """The lookup hash of the mailbox an address delivers to, "" for none."""
    return lookup_hash(mailbox_canonical(email))


def email_hash_lowercased(email: str | None) -> str:
    """The lookup hash of an address as it was hashed before mailboxes were canonical
    (stripped and lower-cased). Only request links issued before then carry it
    (``scheduling.links``); once they have all expired it can go."""
    return lookup_hash((email or "").strip().lower())


# --- Rewriting stored columns (data migrations, key rotation) -----------------------------


def column_rewrite(
    connection: Any,
    *,
    table: str,
    column: str,
    transform: Any,
    batch_size: int = 500,
) -> tuple[int, int]:
    """Apply ``transform`` (old stored text -> new stored text, or None to keep it) to
    every non-empty value of ``table.column``, in primary-key batches of raw SQL (the
    field's own conversions would get in the way). A row changed since it was read is
    left alone (its new value is already under the current key). Returns (rewritten,
    kept)."""
    # Table and column names come from model metadata, quoted; values are parameters.
    quote = connection.ops.quote_name
    select = (
        f"SELECT id, {quote(column)} FROM {quote(table)} "  # noqa: S608
        f"WHERE id > %s AND {quote(column)} <> '' ORDER BY id LIMIT %s"
    )
    update = (
        f"UPDATE {quote(table)} SET {quote(column)} = %s "  # noqa: S608
        f"WHERE id = %s AND {quote(column)} = %s"
    )
    rewritten = kept = 0
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(select, [last, batch_size])
            rows = cursor.fetchall()
        if not rows:
            return rewritten, kept
        changes = []
        for pk, value in rows:
            new = transform(value)
            if new is None or new == value:
                kept += 1
            else:
                changes.append([new, pk, value])
        if changes:
            with connection.cursor() as cursor:
                cursor.executemany(update, changes)
            rewritten += len(changes)
        last = rows[-1][0]


def encrypt_plain(value: str) -> str | None:
    """For a data migration: ``value`` encrypted, unless it already is."""
    return None if is_token(value) else encrypt_text(value)


def decrypt_token(value: str) -> str | None:
    """For a reversed data migration: the plain text of ``value``, if it is a token."""
    return decrypt_text(value) if is_token(value) else None


def rotate_stale(value: str) -> str | None:
    """For key rotation: ``value`` under the first key, unless it is already."""
    return None if is_current_token(value) else rotate_token(value)
