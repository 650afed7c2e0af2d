"""Leads stored before verification existed keep only what the clinic's own records
prove: a number the person answered a call on or texted from (issue 20, item 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from clinic.crypto import phone_hash

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("intake", "0011_articledailycount_field"),
    ("notifications", "0009_message_retry_budget"),
    ("scheduling", "0011_claim_index"),
]
AFTER = [("scheduling", "0013_lead_verification_backfill")]


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


def test_only_numbers_the_person_answered_or_texted_from_start_verified():
    old = migrate(BEFORE)
    Lead = old.get_model("intake", "Lead")
    Submission = old.get_model("intake", "Submission")
    Callback = old.get_model("scheduling", "Callback")
    CallAttempt = old.get_model("scheduling", "CallAttempt")
    InboundMessage = old.get_model("notifications", "InboundMessage")
    User = old.get_model("auth", "User")
    coordinator = User.objects.create(username="migration-coordinator")
    moment = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

    def lead(name, phone, *, outcome=None):
        made = Lead.objects.create(
            first_name=name,
            phone=phone,
            phone_hash=phone_hash(phone),
            email=f"{name.lower()}@example.org",
            stage="contacted",
        )
        if outcome:
            submission = Submission.objects.create(lead=made, first_name=name)
            callback = Callback.objects.create(
                lead=made, submission=submission, due_at=moment, original_due_at=moment
            )
            attempt = CallAttempt.objects.create(
                callback=callback, coordinator=coordinator, outcome=outcome
            )
            CallAttempt.objects.filter(pk=attempt.pk).update(created_at=moment)
        return made.pk

    answered = lead("Ana", "+12025550101", outcome="reached")
    later = lead("Bo", "+12025550102", outcome="call_back_later")
    unanswered = lead("Cy", "+12025550103", outcome="no_answer")
    texted = lead("Di", "+12025550104")
    stopped = lead("Ed", "+12025550105")
    untouched = lead("Flo", "+12025550106")
    InboundMessage.objects.create(
        provider_id="SM1",
        sender="+12025550104",
        sender_hash=phone_hash("+12025550104"),
        body="yes",
        kind="reply",
    )
    InboundMessage.objects.create(
        provider_id="SM2",
        sender="+12025550105",
        sender_hash=phone_hash("+12025550105"),
        body="STOP",
        kind="opt_out",
    )

    new = migrate(AFTER)

    leads = {
        row["pk"]: row
        for row in new.get_model("intake", "Lead").objects.values(
            "pk", "phone_verified_by", "phone_verified_at", "email_verified_at", "name_confirmed_at"
        )
    }
    assert leads[answered]["phone_verified_by"] == "call"
    assert leads[answered]["phone_verified_at"] == moment
    assert leads[later]["phone_verified_by"] == "call"
    assert leads[texted]["phone_verified_by"] == "sms_reply"
    for nothing in (unanswered, stopped, untouched):
        assert leads[nothing]["phone_verified_at"] is None
    for row in leads.values():
        assert row["email_verified_at"] is None and row["name_confirmed_at"] is None
