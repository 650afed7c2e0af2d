"""What the database benchmarks share: their own PostgreSQL database, and bulk
loading by INSERT ... SELECT from generate_series."""

from __future__ import annotations

import os
import subprocess
import sys
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
    cursor.execute(
        # Names and expressions come from the benchmarks and the schema, not from input.
        f"INSERT INTO {table} ({names}) SELECT {expressions} "  # noqa: S608
        f"FROM generate_series(1, %s) AS g {source}",
        [count],
    )
