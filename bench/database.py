"""What the database benchmarks share: their own PostgreSQL database, and bulk
loading by INSERT ... SELECT from generate_series."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qc", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def database_create(name: str) -> None:
    """A fresh, migrated database ``name`` (dropped first if it exists)."""
    database_drop(name)
    psql(f"CREATE DATABASE {name}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": database_url(name)},
        check=True,
    )


def database_drop(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _filler(column: str, data_type: str) -> str:
    """A value for a NOT NULL column with no default, by type (the schema evolves;
    the benchmarks should not have to)."""
    if data_type in ("character varying", "text"):
        return "''"
    if data_type == "boolean":
        return "false"
    if data_type.startswith("timestamp"):
        return "now()"
    if data_type in ("integer", "bigint", "smallint"):
        return "0"
    if data_type == "jsonb":
        return "'{}'::jsonb"
    if data_type == "date":
        return "current_date"
    raise ValueError(f"no filler for {column} ({data_type})")


def bulk_insert(
    cursor: Any, table: str, count: int, values: dict[str, str], source: str = ""
) -> None:
    """INSERT ``count`` rows into ``table`` from generate_series (``g``, joined with
    ``source`` if given), with the given column expressions and a filler for every
    other required column."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL",
        [table],
    )
    columns = dict(values)
    for column, data_type in cursor.fetchall():
        if column not in columns and column != "id":
            columns[column] = _filler(column, data_type)
    names = ", ".join(columns)
    expressions = ", ".join(columns.values())
    with triggers_off(cursor):
        cursor.execute(
            # Names and expressions come from the benchmarks and the schema, not from input.
            f"INSERT INTO {table} ({names}) SELECT {expressions} "  # noqa: S608
            f"FROM generate_series(1, %s) AS g {source}",
            [count],
        )


@contextmanager
def triggers_off(cursor: Any) -> Iterator[None]:
    """Bulk loads skip the row triggers (the audit trail's, the consent ledger's) and
    foreign-key checks: the rows are history made up by a benchmark, consistent by
    construction, and a trigger per row would make the load, not the figures, the
    subject (session_replication_role needs a superuser; the benchmarks connect as
    postgres)."""
    cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        cursor.execute("SET session_replication_role = DEFAULT")


_COPY_FILLER = {
    "character varying": "",
    "text": "",
    "boolean": "f",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "jsonb": "{}",
}


def copy_columns(cursor: Any, table: str, columns: list[str]) -> tuple[list[str], str]:
    """``columns`` plus every other required column of ``table`` (not ``id``), and the
    COPY text of those others' fillers, to append to each generated line."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL "
        "ORDER BY ordinal_position",
        [table],
    )
    extra = [
        (column, data_type)
        for column, data_type in cursor.fetchall()
        if column not in columns and column != "id"
    ]
    cursor.execute("SELECT now()::text, current_date::text")
    now, today = cursor.fetchone()
    fillers = []
    for column, data_type in extra:
        if data_type.startswith("timestamp"):
            fillers.append(now)
        elif data_type == "date":
            fillers.append(today)
        elif data_type in _COPY_FILLER:
            fillers.append(_COPY_FILLER[data_type])
        else:
            raise ValueError(f"no filler for {column} ({data_type})")
    return [*columns, *(column for column, _type in extra)], "".join(f"\t{f}" for f in fillers)


def copy_from_process(
    raw_connection: Any, table: str, columns: list[str], generate: Any, *args: Any
) -> None:
    """COPY into ``table`` the text lines ``generate(write, *args)`` writes, generated in
    a separate process (forked) and streamed through a pipe, so that making the rows
    and PostgreSQL parsing them run side by side. FREEZE: the table must have been
    created or truncated in this transaction (no hint-bit rewrite on first read)."""
    import multiprocessing

    reader, writer = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(
        target=_generate_into, args=(writer, generate, args), daemon=True
    )
    process.start()
    writer.close()
    names = ", ".join(columns)
    statement = f"COPY {table} ({names}) FROM STDIN WITH (FREEZE)"
    with raw_connection.cursor() as cursor, triggers_off(cursor), cursor.copy(statement) as copy:
        while True:
            try:
                chunk = reader.recv_bytes()
            except EOFError:
                break
            copy.write(chunk)
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"the row generator of {table} failed ({process.exitcode})")


def _generate_into(connection: Any, generate: Any, args: tuple) -> None:
    lines: list[str] = []

    def write(line: str) -> None:
        lines.append(line)
        if len(lines) >= 20000:
            connection.send_bytes("".join(lines).encode())
            lines.clear()

    generate(write, *args)
    if lines:
        connection.send_bytes("".join(lines).encode())
    connection.close()


def secondary_indexes_drop(cursor: Any, tables: list[str]) -> list[str]:
    """Drop the foreign keys, unique constraints and indexes of ``tables`` but their
    primary keys (a bulk load builds each once afterwards instead of row by row);
    returns the statements that put them back, in order."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype "
        "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u') "
        "ORDER BY contype DESC",  # unique before foreign keys when put back
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [tables],
    )
    indexes = cursor.fetchall()
    restore = []
    for table, name, definition, _type in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
        restore.insert(0, definition)
    return restore
