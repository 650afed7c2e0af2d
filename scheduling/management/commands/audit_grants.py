"""``manage.py audit_grants clinic_app``: the SQL that lets the application's role use
every table but only read and append to the audit trail (docs/audit.md)."""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from clinic.audit import events

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Command(BaseCommand):
    help = (
        "Print (or, with --execute, run as the current owner role) the GRANT/REVOKE "
        "statements for the application's PostgreSQL role. Run after every migrate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="The role the web and worker processes connect as.")
        parser.add_argument("--execute", action="store_true", help="Run the statements now.")

    def handle(self, *args: Any, role: str, execute: bool, **options: Any) -> None:
        if not _ROLE.match(role):
            raise CommandError("The role must be a plain lower-case PostgreSQL name.")
        if connection.vendor != "postgresql":
            raise CommandError("Database roles and grants are PostgreSQL only.")
        statements = events.app_role_grants(role)
        if execute:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
            self.stdout.write(f"Granted {role}: {len(statements)} statements.")
        else:
            for statement in statements:
                self.stdout.write(f"{statement};")
