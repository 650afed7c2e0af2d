"""The transactional tests' teardown (tests/fast_flush.py) leaves the database as
Django's ``flush`` does: every table empty but the rows ``post_migrate`` makes, and the
append-only triggers it silenced while emptying are on again."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction

from tests import fast_flush
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

# What Django's own flush leaves holding rows (its post_migrate's content types and
# permissions); checking it against flush each time would cost this test ~2 s.
POST_MIGRATE_TABLES = {"django_content_type", "auth_permission"}


def tables_with_rows() -> set[str]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        found = set()
        for table in tables:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(table)})")  # noqa: S608
            if cursor.fetchone()[0]:
                found.add(table)
    return found


def test_it_empties_every_table_written_as_flush_does():
    submit_lead()  # a lead, its submission, consent and their append-only events
    coordinator = UserFactory(username="flushed")
    coordinator.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    assert {
        "intake_lead",
        "intake_leadevent",
        "auth_user",
        "auth_user_groups",
    } <= tables_with_rows()
    content_types = ContentType.objects.count()
    permissions = Permission.objects.count()

    fast_flush.flush("default")

    assert tables_with_rows() == POST_MIGRATE_TABLES
    assert ContentType.objects.count() == content_types
    assert Permission.objects.count() == permissions


def test_post_migrates_rows_are_made_again_when_a_test_changed_them():
    fast_flush.flush("default")
    permissions = set(Permission.objects.values_list("codename", flat=True))
    Permission.objects.filter(codename="view_group").delete()
    ContentType.objects.create(app_label="nowhere", model="stray")

    fast_flush.flush("default")

    assert set(Permission.objects.values_list("codename", flat=True)) == permissions
    assert not ContentType.objects.filter(app_label="nowhere").exists()


def test_the_append_only_triggers_hold_again_after_it():
    UserFactory(username="before")
    fast_flush.flush("default")
    UserFactory(username="after")  # its history row is written by the trigger

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM scheduling_userevent")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM scheduling_userevent")
        assert cursor.fetchone()[0] == 1
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
