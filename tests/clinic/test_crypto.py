"""Encryption at rest (clinic.crypto.EncryptedTextField), key rotation and lookup hashes."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from clinic.crypto import (
    DecryptionError,
    column_rewrite,
    decrypt_token,
    email_hash,
    encrypt_plain,
    phone_hash,
)
from intake.models import Consent, ConsentLedgerError, Lead, Submission
from notifications.models import Message
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_free_text_is_stored_as_a_token_and_read_back_as_text():
    submission = submit_lead(message="I have not slept in weeks")

    raw = stored("intake_submission", "message", submission.pk)
    assert raw.startswith("gAAAAA")
    assert "slept" not in raw
    assert Submission.objects.get(pk=submission.pk).message == "I have not slept in weeks"


def test_the_same_text_encrypts_differently_each_time():
    first = submit_lead(message="same words")
    second = submit_lead(message="same words")

    assert stored("intake_submission", "message", first.pk) != stored(
        "intake_submission", "message", second.pk
    )


def test_empty_text_stays_empty_and_can_be_filtered_on():
    submission = submit_lead(message="")

    assert stored("intake_submission", "message", submission.pk) == ""
    assert Submission.objects.filter(pk=submission.pk, message="").exists()
    assert not Submission.objects.filter(pk=submission.pk).exclude(message="").exists()


@pytest.mark.parametrize(
    "lookup", [{"message": "hello"}, {"message__icontains": "hel"}, {"message__in": ["a"]}]
)
def test_searching_inside_encrypted_text_is_refused_not_silently_empty(lookup):
    with pytest.raises(FieldError):
        list(Submission.objects.filter(**lookup))


def test_a_value_under_no_configured_key_fails_loudly(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    submission = submit_lead(message="written under the old key")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    with pytest.raises(DecryptionError):
        Submission.objects.get(pk=submission.pk)


def test_rotation_re_encrypts_every_column_with_the_first_key(settings, route):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    submission = submit_lead(message="rotate me")
    route(submission)
    message = Message.objects.filter(correlation=f"lead:{submission.lead_id}").first()
    assert message is not None
    raw_before = stored("intake_submission", "message", submission.pk)
    assert Fernet(OLD_KEY).decrypt(raw_before.encode()) == b"rotate me"

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    # Old rows stay readable before the rotation.
    assert Submission.objects.get(pk=submission.pk).message == "rotate me"
    out = io.StringIO()
    call_command("rotate_encryption_keys", batch_size=1, stdout=out)

    report = out.getvalue()
    assert "intake.Submission.message: 1 re-encrypted, 0 already under the first key" in report
    assert "notifications.Message.body: " in report
    raw_after = stored("intake_submission", "message", submission.pk)
    assert Fernet(NEW_KEY).decrypt(raw_after.encode()) == b"rotate me"
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY).decrypt(raw_after.encode())
    body = stored("notifications_message", "body", message.pk)
    assert Fernet(NEW_KEY).decrypt(body.encode()).decode() == message.body

    # The old key can go; a second run finds nothing to do.
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert Submission.objects.get(pk=submission.pk).message == "rotate me"
    assert Message.objects.get(pk=message.pk).body == message.body
    again = io.StringIO()
    call_command("rotate_encryption_keys", stdout=again)
    assert again.getvalue().strip().endswith("0 values re-encrypted")


def test_the_data_migration_encrypts_plain_rows_once_and_reverses():
    submission = submit_lead(message="")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE intake_submission SET message = %s WHERE id = %s",
            ["written before encryption", submission.pk],
        )

    rewritten, _kept = column_rewrite(
        connection, table="intake_submission", column="message", transform=encrypt_plain
    )
    assert rewritten == 1
    assert stored("intake_submission", "message", submission.pk).startswith("gAAAAA")
    assert Submission.objects.get(pk=submission.pk).message == "written before encryption"
    # Running it again changes nothing: the row is a token already.
    assert column_rewrite(
        connection, table="intake_submission", column="message", transform=encrypt_plain
    ) == (0, 1)

    column_rewrite(connection, table="intake_submission", column="message", transform=decrypt_token)
    assert stored("intake_submission", "message", submission.pk) == "written before encryption"


# --- Lookup hashes ------------------------------------------------------------------


def test_a_phone_hashes_the_same_in_any_format():
    assert phone_hash("+12025550143") == phone_hash("(202) 555-0143") == phone_hash("202.555.0143")
    assert phone_hash("+12025550143") != phone_hash("+12025550144")
    assert len(phone_hash("+12025550143")) == 64
    assert "2025550143" not in phone_hash("+12025550143")
    assert phone_hash("") == phone_hash(None) == ""


def test_an_email_hashes_the_same_whatever_its_case_and_spaces():
    assert email_hash(" Maria@Example.ORG ") == email_hash("maria@example.org")
    assert email_hash("") == ""


def test_the_hash_depends_on_the_key(settings):
    before = phone_hash("+12025550143")
    settings.LOOKUP_HASH_KEY = "another-key"
    assert phone_hash("+12025550143") != before


def test_leads_keep_hashes_and_an_address_in_another_case_is_the_same_person():
    first = submit_lead(phone=None, email="Ana.Lima@Example.org")
    second = submit_lead(phone=None, email="ana.lima@example.org", first_name="Maria")

    lead = Lead.objects.get(pk=first.lead_id)
    assert second.lead_id == lead.pk
    assert lead.email_hash == email_hash("ana.lima@example.org")
    assert lead.phone_hash == ""


def test_a_consent_record_keeps_the_hash_of_its_number():
    submission = submit_lead(phone="+12025550161")

    consent = Consent.objects.get(submission=submission)
    assert consent.phone_hash == phone_hash("+12025550161")


def test_the_consent_ledger_still_refuses_updates_other_than_redaction():
    submission = submit_lead(phone="+12025550162")

    with pytest.raises(ConsentLedgerError):
        Consent.objects.filter(submission=submission).update(granted=False)
    assert Consent.objects.filter(submission=submission).redact() == 1
    consent = Consent.objects.get(submission=submission)
    assert (consent.phone, consent.ip_address, consent.user_agent) == ("", None, "")
    assert consent.phone_hash == phone_hash("+12025550162")
    assert consent.granted is True


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_the_database_allows_redaction_and_refuses_any_other_change():
    submission = submit_lead(phone="+12025550163")
    consent_id = Consent.objects.get(submission=submission).pk

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE intake_consent SET granted = false WHERE id = %s", [consent_id])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        # Redacting while also rewriting the evidence is refused.
        cursor.execute(
            "UPDATE intake_consent SET phone = '', ip_address = NULL, user_agent = '', "
            "page_url = '', text_version = 'forged' WHERE id = %s",
            [consent_id],
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE intake_consent SET phone = '', ip_address = NULL, user_agent = '', "
            "page_url = '' WHERE id = %s",
            [consent_id],
        )
    assert Consent.objects.get(pk=consent_id).phone == ""
