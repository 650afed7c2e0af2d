"""A transactional test's teardown empties the tables that hold rows, not all of them.

Django ends every transactional test (pytest-django's ``transactional_db``, hence every
``live_server``, browser and end-to-end test) with ``flush``: one ``TRUNCATE`` of every
table, then the ``post_migrate`` signal, which makes the content types and permissions
again. On PostgreSQL a ``TRUNCATE`` costs per table named, empty or not (a new file for
each): about 1.5 s a test for our ~90 tables, most of them never written by the test.

This teardown leaves the database as ``flush`` would:

- every table that holds a row is emptied, in one transaction with triggers and
  foreign key checks off (``session_replication_role = replica``, as ``TRUNCATE``
  fires no row trigger either: the append-only and history triggers stay silent);
- the rows ``post_migrate`` makes (content types, permissions) are kept when they are
  exactly as the last ``post_migrate`` left them (the same rows, ids included);
  otherwise they are emptied too and ``post_migrate`` runs, as after ``flush``.

Sequences are not reset, as ``flush`` does not reset them here. Anything else
(``available_apps``, ``serialized_rollback``, another database engine, a database user
who may not switch triggers off) gets Django's own teardown.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections, transaction
from django.test import TransactionTestCase

# Per database alias: the tables post_migrate filled, with a digest of their rows.
_after_post_migrate: dict[str, dict[str, str]] = {}
_superuser: dict[str, bool] = {}
_django_teardown = TransactionTestCase._fixture_teardown


def _tables_with_rows(cursor, quote, tables: list[str]) -> list[str]:
    if not tables:
        return []
    cursor.execute(
        " UNION ALL ".join(
            f"SELECT %s::text WHERE EXISTS (SELECT 1 FROM {quote(table)})"  # noqa: S608 (table names, quoted)
            for table in tables
        ),
        tables,
    )
    return [row[0] for row in cursor.fetchall()]


def _digests(cursor, quote, tables: list[str]) -> dict[str, str]:
    """A digest of each table's rows (every column, ids included)."""
    if not tables:
        return {}
    cursor.execute(
        "SELECT "
        + ", ".join(
            f"(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "  # noqa: S608
            f"FROM {quote(table)} AS t)"
            for table in tables
        )
    )
    return dict(zip(tables, cursor.fetchone(), strict=True))


def _may_skip_triggers(alias: str) -> bool:
    if alias not in _superuser:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
        _superuser[alias] = bool(row and row[0])
    return _superuser[alias]


def flush(alias: str) -> None:
    """Empty every table of ``alias`` as Django's ``flush`` would (see the module)."""
    connection = connections[alias]
    if connection.vendor != "postgresql" or not _may_skip_triggers(alias):
        call_command("flush", verbosity=0, interactive=False, database=alias)
        return
    quote = connection.ops.quote_name
    tables = sorted(
        connection.introspection.django_table_names(only_existing=True, include_views=False)
    )
    with connection.cursor() as cursor:
        kept = _after_post_migrate.get(alias, {})
        if set(kept) - set(tables) or _digests(cursor, quote, sorted(kept)) != kept:
            kept = {}
        emptied = [table for table in _tables_with_rows(cursor, quote, tables) if table not in kept]
        with transaction.atomic(using=alias):
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table in emptied:
                cursor.execute(f"DELETE FROM {quote(table)}")  # noqa: S608 (table names, quoted)
    if kept:
        return
    emit_post_migrate_signal(0, False, alias)
    with connection.cursor() as cursor:
        filled = _tables_with_rows(cursor, quote, tables)
        _after_post_migrate[alias] = _digests(cursor, quote, filled)


def _fixture_teardown(self) -> None:
    if self.available_apps is not None or self.serialized_rollback:
        _django_teardown(self)
        return
    for alias in self._databases_names(include_mirrors=False):
        flush(alias)


def install() -> None:
    """Give every TransactionTestCase (and pytest-django's transactional_db) this teardown."""
    TransactionTestCase._fixture_teardown = _fixture_teardown
