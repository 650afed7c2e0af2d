"""The privacy migrations on rows stored before them: hashes filled in, free text
encrypted, and back again when reversed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from clinic.crypto import email_hash, phone_hash

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("intake", "0004_funnel_rollup"),
    ("notifications", "0004_inbound_call"),
    ("scheduling", "0006_role_permissions"),
]
AFTER = [
    ("intake", "0007_lead_open_unique_hashes"),
    ("notifications", "0007_optout_phone_hash_unique"),
    ("scheduling", "0008_callattempt_notes_encrypt"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    """Later tests need every migration, including those after AFTER."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def raw(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} ORDER BY id LIMIT 1")  # noqa: S608
        return cursor.fetchone()[0]


def test_existing_rows_get_hashes_and_encrypted_text_and_back():
    old = migrate(BEFORE)
    Lead = old.get_model("intake", "Lead")
    Submission = old.get_model("intake", "Submission")
    Consent = old.get_model("intake", "Consent")
    OptOut = old.get_model("notifications", "OptOut")
    InboundMessage = old.get_model("notifications", "InboundMessage")
    Message = old.get_model("notifications", "Message")
    lead = Lead.objects.create(first_name="Ana", phone="+12025550131", email="Ana@Example.org")
    twin = Lead.objects.create(first_name="Ana", email="ana@example.org")  # same, other case
    submission = Submission.objects.create(lead=lead, first_name="Ana", message="plain story")
    Consent.objects.create(
        lead=lead,
        submission=submission,
        scope="sms",
        granted=True,
        phone="+12025550131",
        text_version="v1",
        text_sha256="0" * 64,
    )
    OptOut.objects.create(phone="+12025550131", source="STOP")
    InboundMessage.objects.create(
        provider_id="SM1", sender="+12025550131", body="plain reply", kind="reply"
    )
    Message.objects.create(
        channel="sms", purpose="confirmation", recipient="+12025550131", body="Hi Ana"
    )

    new = migrate(AFTER)

    lead = new.get_model("intake", "Lead").objects.get(pk=lead.pk)
    assert lead.phone_hash == phone_hash("+12025550131")
    assert lead.email_hash == email_hash("ana@example.org")
    twin = new.get_model("intake", "Lead").objects.get(pk=twin.pk)
    assert twin.email_hash == "" and twin.needs_review
    assert new.get_model("intake", "Consent").objects.get().phone_hash == lead.phone_hash
    assert new.get_model("notifications", "OptOut").objects.get().phone_hash == lead.phone_hash
    assert new.get_model("notifications", "InboundMessage").objects.get().sender_hash == (
        lead.phone_hash
    )
    for table, column, text in [
        ("intake_submission", "message", "plain story"),
        ("notifications_inboundmessage", "body", "plain reply"),
        ("notifications_message", "body", "Hi Ana"),
    ]:
        stored = raw(table, column)
        assert stored.startswith("gAAAAA") and text not in stored
    assert new.get_model("intake", "Submission").objects.get().message == "plain story"

    migrate(BEFORE)
    assert raw("intake_submission", "message") == "plain story"
    assert raw("notifications_message", "body") == "Hi Ana"

    migrate(AFTER)
    assert raw("intake_submission", "message").startswith("gAAAAA")
