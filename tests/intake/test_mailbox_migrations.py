"""The mailbox migrations on rows stored before them: email hashes of leads and
submissions become the hashes of mailboxes, messages get their recipient's hash, and
back again when reversed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from clinic.crypto import email_hash, email_hash_lowercased, phone_hash

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("intake", "0011_articledailycount_field"),
    ("notifications", "0009_message_retry_budget"),
]
AFTER = [("intake", "0013_email_hash_mailboxes"), ("notifications", "0012_message_recipient_hash")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_stored_hashes_become_mailbox_hashes_and_back():
    old = migrate(BEFORE)
    Lead = old.get_model("intake", "Lead")
    Submission = old.get_model("intake", "Submission")
    Message = old.get_model("notifications", "Message")

    def lead(email, **fields):
        return Lead.objects.create(
            first_name="Dana", email=email, email_hash=email_hash_lowercased(email), **fields
        )

    first = lead("dana.smith+news@gmail.com")
    second = lead("danasmith@googlemail.com")  # the same mailbox, a later open lead
    closed = lead("DANA.SMITH@gmail.com", stage="closed")
    other = lead("someone@example.org")
    erased = Lead.objects.create(
        first_name="", email="", email_hash="", anonymised_at=first.created_at
    )
    submission = Submission.objects.create(
        lead=first,
        first_name="Dana",
        email=first.email,
        email_hash=email_hash_lowercased(first.email),
    )
    sms = Message.objects.create(
        channel="sms", purpose="confirmation", recipient="+12025550131", body="Hi"
    )
    email = Message.objects.create(
        channel="email", purpose="confirmation", recipient="Dana.Smith@gmail.com", body="Hi"
    )

    new = migrate(AFTER)

    leads = new.get_model("intake", "Lead").objects
    mailbox = email_hash("danasmith@gmail.com")
    assert leads.get(pk=first.pk).email_hash == mailbox
    assert (leads.get(pk=second.pk).email_hash, leads.get(pk=second.pk).needs_review) == (
        "",
        True,
    )
    assert leads.get(pk=closed.pk).email_hash == mailbox
    assert leads.get(pk=other.pk).email_hash == email_hash("someone@example.org")
    assert leads.get(pk=erased.pk).email_hash == ""
    submissions = new.get_model("intake", "Submission").objects
    assert submissions.get(pk=submission.pk).email_hash == mailbox
    messages = new.get_model("notifications", "Message").objects
    assert messages.get(pk=sms.pk).recipient_hash == phone_hash("+12025550131")
    assert messages.get(pk=email.pk).recipient_hash == mailbox

    back = migrate(BEFORE)

    leads = back.get_model("intake", "Lead").objects
    for row in (first, second, closed, other):
        assert leads.get(pk=row.pk).email_hash == email_hash_lowercased(row.email)
    assert leads.get(pk=erased.pk).email_hash == ""
    submissions = back.get_model("intake", "Submission").objects
    assert submissions.get(pk=submission.pk).email_hash == email_hash_lowercased(first.email)
