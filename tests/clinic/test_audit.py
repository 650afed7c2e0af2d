"""The audit trail (clinic.audit, docs/audit.md): every read of a lead's personal data
and every change, append-only, with who, role, what, when and from where."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import time, timedelta

import pgtrigger.migrations
import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone

from clinic.audit import events as audit
from clinic.audit import trail
from intake.models import Lead, LeadEvent, Submission, SubmissionEvent
from notifications.models import Message, MessageEvent
from scheduling import selectors, services
from scheduling.models import (
    Availability,
    CallAttemptEvent,
    Callback,
    CallbackEvent,
    Clinician,
    StaffUser,
    StaffUserGroups,
    UserEvent,
    UserGroupsEvent,
)
from scheduling.tasks import submission_process
from tests.factories import UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the change trail is PostgreSQL triggers"
)

STAFF_AGENT = "Mozilla/5.0 (X11; Linux x86_64) ClinicConsole/1.0"


def _admin():
    user = UserFactory(username="audit-admin", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    return user


def _staff_client(user) -> Client:
    client = Client(HTTP_USER_AGENT=STAFF_AGENT, REMOTE_ADDR="198.51.100.7")
    verified_login(client, user)
    return client


def _reads(lead_id: int) -> list[LeadEvent]:
    return list(LeadEvent.objects.filter(pgh_obj_id=lead_id, pgh_label="lead.read"))


# --- Reads ------------------------------------------------------------------------------


def test_the_lead_detail_api_records_who_read_it_with_role_and_where(coordinator):
    submission = submit_lead(first_name="Maria", phone="+12025550111")

    response = _staff_client(coordinator).get(
        f"/api/v1/leads/{submission.reference}/", HTTP_X_REQUEST_ID="req-audit-0001"
    )

    assert response.status_code == 200
    [read] = _reads(submission.lead_id)
    assert read.pgh_context["user"] == coordinator.pk
    assert read.pgh_context["roles"] == ["coordinator"]
    assert read.pgh_context["ip"] == "198.51.100.7"
    assert read.pgh_context["user_agent"] == STAFF_AGENT
    assert read.pgh_context["request_id"] == "req-audit-0001"
    assert read.pgh_context["method"] == "GET"
    assert read.pgh_context["route"] == "api/v1/leads/<str:reference>/"
    assert read.pgh_context["read"] == "lead detail API"
    assert read.pgh_context_id is not None


def test_an_api_client_authenticated_by_drf_is_named_too(api_client, supervisor):
    submission = submit_lead()
    api_client.force_authenticate(supervisor)

    assert api_client.get(f"/api/v1/leads/{submission.reference}/").status_code == 200

    [read] = _reads(submission.lead_id)
    assert read.pgh_context["user"] == supervisor.pk
    assert read.pgh_context["roles"] == ["supervisor"]


def test_a_refused_read_records_nothing(api_client, marketer):
    submission = submit_lead()
    api_client.force_authenticate(marketer)

    assert api_client.get(f"/api/v1/leads/{submission.reference}/").status_code == 403

    assert _reads(submission.lead_id) == []


def test_the_callback_page_records_a_read_of_the_whole_timeline(coordinator, route):
    callback = route(submit_lead(first_name="Maria"))

    response = _staff_client(coordinator).get(f"/console/callbacks/{callback.pk}/")

    assert response.status_code == 200
    [read] = _reads(callback.lead_id)
    assert read.pgh_context["read"] == "callback page"
    assert read.pgh_context["callback"] == callback.pk
    assert read.pgh_context["user"] == coordinator.pk
    assert read.pgh_context["view"] == "scheduling:console-callback"


def test_list_pages_record_each_lead_shown_once_per_window(coordinator, route):
    first = route(submit_lead(first_name="Ann"))
    second = route(submit_lead(first_name="Bea"))
    client = _staff_client(coordinator)

    client.get("/console/queue/")
    client.get("/console/queue/")  # polled again: the same read

    for callback in (first, second):
        [read] = _reads(callback.lead_id)
        assert read.pgh_context["read"] == "callback queue"
        assert read.pgh_context["user"] == coordinator.pk


def test_the_appointments_page_records_the_leads_it_names(coordinator, route):
    clinician = Clinician.objects.create(name="Dr Rivera", slot_minutes=60)
    for weekday in range(7):
        Availability.objects.create(
            clinician=clinician, weekday=weekday, starts_at=time(0), ends_at=time(23)
        )
    callback = route(submit_lead(first_name="Maria"))
    [slot] = selectors.slots_available(
        start=timezone.now(), end=timezone.now() + timedelta(days=10), limit=1
    )
    services.appointment_book(
        lead_id=callback.lead_id,
        clinician_id=clinician.pk,
        starts_at=slot.starts_at,
        booked_by_id=coordinator.pk,
    )

    response = _staff_client(coordinator).get("/console/appointments/")

    assert response.status_code == 200
    assert "Maria" in response.content.decode()
    [read] = _reads(callback.lead_id)
    assert read.pgh_context["read"] == "appointments"


def test_admin_change_pages_record_reads_of_leads_submissions_and_messages(route):
    admin = _admin()
    callback = route(submit_lead(first_name="Maria"))
    submission = Submission.objects.get(lead_id=callback.lead_id)
    message = Message.objects.filter(correlation=f"lead:{callback.lead_id}").first()
    client = _staff_client(admin)

    assert client.get(f"/admin/intake/lead/{callback.lead_id}/change/").status_code == 200
    assert client.get(f"/admin/intake/submission/{submission.pk}/change/").status_code == 200
    assert client.get(f"/admin/notifications/message/{message.pk}/change/").status_code == 200

    reads = sorted(read.pgh_context["read"] for read in _reads(callback.lead_id))
    assert reads == ["admin lead page", "admin submission page"]
    [message_read] = MessageEvent.objects.filter(pgh_obj_id=message.pk, pgh_label="message.read")
    assert message_read.pgh_context["user"] == admin.pk
    assert message_read.pgh_context["roles"] == ["admin"]


def test_a_read_event_holds_no_personal_data(coordinator):
    submission = submit_lead(first_name="Zebulon", phone="+12025550177", message="Evenings")

    _staff_client(coordinator).get(f"/api/v1/leads/{submission.reference}/")

    [read] = _reads(submission.lead_id)
    stored = {f.attname: getattr(read, f.attname) for f in LeadEvent._meta.concrete_fields}
    text = repr(stored)
    for personal in ("Zebulon", "2025550177", "@example.org", "Evenings"):
        assert personal not in text
    field_names = {f.name for f in LeadEvent._meta.fields}
    assert not field_names & {"first_name", "last_name", "phone", "email", "closed_reason"}
    submission_fields = {f.name for f in SubmissionEvent._meta.fields}
    assert not submission_fields & {"first_name", "phone", "email", "message", "interest"}
    message_fields = {f.name for f in MessageEvent._meta.fields}
    assert not message_fields & {"recipient", "subject", "body", "body_html", "attachment"}


def test_reads_of_partly_loaded_leads_cost_one_statement_not_one_per_lead(
    django_assert_num_queries,
):
    ids = [submit_lead().lead_id for _ in range(3)]
    Lead.objects.filter(pk=ids[0]).update(stage=Lead.Stage.CONTACTED)
    leads = list(Lead.objects.filter(pk__in=ids).only("id", "first_name"))

    with audit.audit_context(user=7, route="test"), django_assert_num_queries(1):
        audit.events_record(leads, label="lead.read", read="a list")

    events = {event.pgh_obj_id: event for event in LeadEvent.objects.filter(pgh_label="lead.read")}
    assert set(events) == set(ids)
    assert events[ids[0]].stage == Lead.Stage.CONTACTED  # copied by the database
    assert events[ids[0]].pgh_context == {"user": 7, "route": "test", "read": "a list"}
    assert events[ids[0]].pgh_context_id is not None


def test_events_record_for_copies_the_rows_a_queryset_finds_in_one_insert(
    django_assert_num_queries,
):
    kept = submit_lead(first_name="Maria")
    other = submit_lead()

    with audit.audit_context(user=3):
        context_id = audit._state.get().id
        with django_assert_num_queries(1) as captured:
            written = audit.events_record_for(
                Lead.objects.filter(pk__in=[kept.lead_id]), label="lead.read", read="an API"
            )

    assert written == 1
    assert "INSERT INTO" in captured.captured_queries[0]["sql"]
    [event] = LeadEvent.objects.filter(pgh_label="lead.read")
    lead = Lead.objects.get(pk=kept.lead_id)
    assert (event.pgh_obj_id, event.id, event.stage, event.created_at) == (
        lead.pk,
        lead.pk,
        lead.stage,
        lead.created_at,
    )
    assert event.pgh_context == {"user": 3, "read": "an API"}
    assert event.pgh_context_id == context_id
    assert not LeadEvent.objects.filter(pgh_obj_id=other.lead_id, pgh_label="lead.read")
    assert audit.events_record_for(Lead.objects.none(), label="lead.read") == 0


def test_an_anonymous_submission_keeps_the_persons_address_out_of_the_trail(api_client):
    response = api_client.post(
        "/api/v1/leads/",
        {"first_name": "Maria", "phone": "+12025550142", "article": "science", "sms_consent": True},
        format="json",
        REMOTE_ADDR="203.0.113.55",
    )
    assert response.status_code == 201
    if connection.vendor == "postgresql":
        # The request stores the submission only (the worker attaches the lead), on the
        # lean public path: no audit context at all, so no address either.
        [inserted] = SubmissionEvent.objects.filter(pgh_label="insert")
        assert inserted.pgh_context is None
        assert "203.0.113.55" not in repr(inserted.__dict__)


# --- Changes (PostgreSQL triggers) --------------------------------------------------------


@postgres_only
def test_a_bulk_update_is_caught_row_by_row_with_its_context():
    leads = [submit_lead().lead_id, submit_lead().lead_id]

    with audit.audit_context(user=4242, roles=["supervisor"], route="bulk"):
        changed = Lead.objects.filter(pk__in=leads).update(stage=Lead.Stage.CLOSED)

    assert changed == 2
    updates = LeadEvent.objects.filter(pgh_label="update", pgh_obj_id__in=leads)
    assert sorted(updates.values_list("pgh_obj_id", flat=True)) == sorted(leads)
    for event in updates:
        assert event.stage == "closed"
        assert event.pgh_context["user"] == 4242
        assert event.pgh_context["roles"] == ["supervisor"]


@postgres_only
def test_a_change_of_a_personal_field_is_named_but_its_value_is_not_kept():
    lead_id = submit_lead(first_name="Maria").lead_id

    Lead.objects.filter(pk=lead_id).update(first_name="Mariana", phone="+12025550999")

    [event] = LeadEvent.objects.filter(pgh_label="update", pgh_obj_id=lead_id)
    assert event.personal_changed == "first_name,phone"
    assert "Mariana" not in repr(
        {f.attname: getattr(event, f.attname) for f in LeadEvent._meta.concrete_fields}
    )


@postgres_only
def test_a_change_made_in_a_request_carries_the_staff_member_and_route(coordinator, route):
    callback = route(submit_lead())
    client = _staff_client(coordinator)

    client.post("/console/next/")
    client.post(
        f"/console/callbacks/{callback.pk}/attempt/",
        {"outcome": "no_answer", "notes": "Rang twice, no voicemail"},
    )

    claim = CallbackEvent.objects.filter(pgh_obj_id=callback.pk, status="claimed").first()
    assert claim.pgh_context["user"] == coordinator.pk
    assert claim.pgh_context["route"] == "console/next/"
    assert claim.pgh_context["ip"] == "198.51.100.7"
    [attempt] = CallAttemptEvent.objects.filter(callback_id=callback.pk, pgh_label="insert")
    assert attempt.outcome == "no_answer"
    assert attempt.pgh_context["view"] == "scheduling:console-attempt"
    assert not hasattr(attempt, "notes")


@postgres_only
def test_a_celery_tasks_changes_carry_the_task(django_capture_on_commit_callbacks):
    submission = submit_lead()

    with django_capture_on_commit_callbacks(execute=True):
        submission_process.delay(submission.pk)

    [queued] = CallbackEvent.objects.filter(lead_id=submission.lead_id, pgh_label="insert")
    assert queued.pgh_context["task"] == "scheduling.tasks.submission_process"
    assert queued.pgh_context["task_id"]
    assert "user" not in queued.pgh_context
    # The task's context ends with it: a later change outside carries none.
    Callback.objects.filter(pk=queued.pgh_obj_id).update(is_urgent=True)
    latest = CallbackEvent.objects.filter(pgh_obj_id=queued.pgh_obj_id).order_by("pgh_id").last()
    assert latest.pgh_context is None


@postgres_only
def test_role_changes_of_staff_are_on_the_trail():
    user = UserFactory(username="new-coordinator")
    group = Group.objects.get_or_create(name="coordinator")[0]

    with audit.audit_context(user=1, roles=["admin"]):
        user.groups.add(group)
        user.groups.remove(group)

    labels = list(
        UserGroupsEvent.objects.filter(user_id=user.pk)
        .order_by("pgh_id")
        .values_list("pgh_label", flat=True)
    )
    assert labels == ["insert", "delete"]
    assert UserEvent.objects.filter(pgh_obj_id=user.pk, pgh_label="insert").exists()
    assert not any(f.name in {"password", "email"} for f in UserEvent._meta.fields)


@postgres_only
def test_changes_of_a_staff_account_name_personal_columns_and_skip_sign_ins():
    user = UserFactory(username="renamed-coordinator", first_name="Ada")

    with audit.audit_context(user=1, roles=["admin"]):
        User.objects.filter(pk=user.pk).update(first_name="Grace", is_staff=True)
        User.objects.filter(pk=user.pk).update(last_login=timezone.now(), password="x")

    updates = list(UserEvent.objects.filter(pgh_obj_id=user.pk, pgh_label="update"))
    assert len(updates) == 1
    assert updates[0].personal_changed == "first_name"
    assert updates[0].is_staff is True
    assert updates[0].pgh_context["user"] == 1
    [entry] = trail.trail_for_user(1, label="update")
    assert entry.model == "auth.User"
    assert entry.personal_changed == ("first_name",)


@postgres_only
def test_the_staff_triggers_are_installed_by_the_scheduling_migrations():
    """auth_user and auth_user_groups get their triggers from scheduling's own
    migrations (proxy models), never from a migration written into Django's auth app."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname IN ('auth_user', 'auth_user_groups') AND NOT t.tgisinternal "
            "ORDER BY 1, 2"
        )
        installed = cursor.fetchall()
    expected = []
    for model in (StaffUser, StaffUserGroups):
        for trigger in model._meta.triggers:
            expected.append((model._meta.db_table, trigger.get_pgid(model)))
    assert sorted(installed) == sorted(expected)
    assert len(installed) == 6

    loader = MigrationLoader(None, ignore_no_migrations=True)
    assert max(name for app, name in loader.disk_migrations if app == "auth") == (
        "0012_alter_user_first_name_max_length"
    )
    staff_triggers = {
        (operation.model_name, operation.trigger.name)
        for (app, _), migration in loader.disk_migrations.items()
        if app == "scheduling"
        for operation in migration.operations
        if isinstance(operation, pgtrigger.migrations.AddTrigger)
        and operation.model_name in {"staffuser", "staffusergroups"}
    }
    assert staff_triggers == {
        (model, name)
        for model in ("staffuser", "staffusergroups")
        for name in ("insert_insert", "update_update", "delete_delete")
    }


# --- Append-only ------------------------------------------------------------------------


@postgres_only
@pytest.mark.parametrize(
    "statement",
    [
        'UPDATE "intake_leadevent" SET "stage" = %s',
        'DELETE FROM "intake_leadevent" WHERE "stage" <> %s',
    ],
)
def test_audit_rows_cannot_be_updated_or_deleted(statement):
    submit_lead()
    assert LeadEvent.objects.exists()

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, ["admitted"])

    assert not LeadEvent.objects.filter(stage="admitted").exists()
    assert LeadEvent.objects.exists()


@postgres_only
def test_erasing_a_lead_keeps_its_trail():
    lead_id = submit_lead().lead_id
    before = LeadEvent.objects.filter(pgh_obj_id=lead_id).count()

    Lead.objects.filter(pk=lead_id).delete()

    assert LeadEvent.objects.filter(pgh_obj_id=lead_id, pgh_label="delete").exists()
    assert LeadEvent.objects.filter(pgh_obj_id=lead_id).count() == before + 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_application_role_may_read_and_append_but_never_rewrite_the_trail():
    """docs/audit.md: the app connects as a role granted by ``manage.py audit_grants``."""
    lead_id = submit_lead().lead_id
    role = f"clinic_app_test_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        call_command("audit_grants", role, "--execute")
        params = connection.get_connection_params()
        params.update(user=role, dbname=params.pop("dbname", settings.DATABASES["default"]["NAME"]))
        params.pop("password", None)
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as app:
            # What the application needs: read the trail, append to it, work on leads.
            count = app.execute("SELECT count(*) FROM intake_leadevent").fetchone()[0]
            assert count >= 1
            app.execute(
                "INSERT INTO intake_leadevent (pgh_created_at, pgh_label, pgh_obj_id, id, "
                "preferred_channel, best_time, phone_type, voicemail_ok, mention_clinic_ok, "
                "needs_review, stage, created_at, anonymised_reason) SELECT now(), 'lead.read', "
                "id, id, preferred_channel, best_time, phone_type, voicemail_ok, "
                "mention_clinic_ok, needs_review, stage, created_at, anonymised_reason "
                "FROM intake_lead WHERE id = %s",
                [lead_id],
            )
            app.execute("UPDATE intake_lead SET needs_review = true WHERE id = %s", [lead_id])
            # What it must never do, even with the protecting trigger out of the way.
            for statement in (
                "UPDATE intake_leadevent SET stage = 'admitted'",
                "DELETE FROM intake_leadevent",
                "TRUNCATE intake_leadevent",
                "ALTER TABLE intake_leadevent DISABLE TRIGGER ALL",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute(statement)
        assert LeadEvent.objects.filter(pgh_obj_id=lead_id, pgh_label="lead.read").exists()
        assert not LeadEvent.objects.filter(stage="admitted").exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


def test_audit_grants_refuses_a_role_name_that_is_not_plain():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("audit_grants", 'app"; DROP TABLE x; --')


# --- The admin's trail pages --------------------------------------------------------------


def test_marketing_and_coordinators_cannot_reach_the_trail(marketer, coordinator):
    lead_id = submit_lead().lead_id
    for user in (marketer, coordinator):
        client = _staff_client(user)
        for path in (
            "/admin/audit/",
            f"/admin/audit/lead/{lead_id}/",
            f"/admin/audit/user/{user.pk}/",
        ):
            response = client.get(path)
            assert response.status_code == 302
            assert "/login/" in response["Location"]


def test_the_admin_browses_a_leads_trail_with_its_children_and_reads(coordinator, route):
    callback = route(submit_lead(first_name="Zebulon", phone="+12025550123"))
    staff = _staff_client(coordinator)
    staff.post("/console/next/")
    staff.post(
        f"/console/callbacks/{callback.pk}/attempt/",
        {"outcome": "no_answer", "notes": "Secret note"},
    )
    staff.get(f"/console/callbacks/{callback.pk}/")

    response = _staff_client(_admin()).get(f"/admin/audit/lead/{callback.lead_id}/")

    assert response.status_code == 200
    html = response.content.decode()
    models_on_trail = {row["entry"].model for row in response.context["rows"]}
    assert "intake.Lead" in models_on_trail
    if connection.vendor == "postgresql":
        assert {
            "intake.Submission",
            "intake.Consent",
            "scheduling.Callback",
            "scheduling.CallAttempt",
            "notifications.Message",
        } <= models_on_trail
    assert "callback page" in html
    assert "coordinator-user" in html
    for personal in ("Zebulon", "2025550123", "Secret note"):
        assert personal not in html


def test_the_admin_filters_a_trail_by_action_and_date(coordinator):
    submission = submit_lead()
    _staff_client(coordinator).get(f"/api/v1/leads/{submission.reference}/")
    admin = _staff_client(_admin())
    path = f"/admin/audit/lead/{submission.lead_id}/"

    reads = admin.get(path, {"action": "lead.read"}).context["rows"]
    later = admin.get(path, {"since": "2999-01-01"}).context["rows"]
    bad = admin.get(path, {"since": "2026-02-01", "until": "2026-01-01"})

    assert [row["entry"].label for row in reads] == ["lead.read"]
    assert later == []
    assert bad.status_code == 200
    assert "The start date is after the end date." in bad.content.decode()
    assert admin.get(path, {"since": "not-a-date"}).status_code == 200


def test_the_admin_browses_a_staff_members_trail(coordinator):
    submission = submit_lead()
    _staff_client(coordinator).get(f"/api/v1/leads/{submission.reference}/")
    admin = _staff_client(_admin())

    found = admin.get("/admin/audit/", {"username": "coordinator-user"})
    assert found.status_code == 302
    assert found["Location"] == f"/admin/audit/user/{coordinator.pk}/"
    rows = admin.get(found["Location"]).context["rows"]

    assert [(row["entry"].label, row["entry"].object_id) for row in rows] == [
        ("lead.read", submission.lead_id)
    ]
    assert admin.get("/admin/audit/", {"username": "nobody"}).status_code == 200
    assert admin.get("/admin/audit/user/987654321/").status_code == 404


def test_the_lead_admin_page_links_to_its_trail():
    lead_id = submit_lead().lead_id
    html = _staff_client(_admin()).get(f"/admin/intake/lead/{lead_id}/change/").content.decode()
    assert f"/admin/audit/lead/{lead_id}/" in html


def test_the_admin_home_links_to_the_trail():
    html = _staff_client(_admin()).get("/admin/").content.decode()
    assert 'href="/admin/audit/"' in html


def test_migrate_and_the_trail_work_on_a_fresh_sqlite_database(tmp_path):
    """The development default: pgtrigger installs nothing, the migrations still run."""
    env = {
        **os.environ,
        "DJANGO_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
    }
    env.pop("REDIS_URL", None)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "scheduling.0010_audit_trail... OK" in migrate.stdout
