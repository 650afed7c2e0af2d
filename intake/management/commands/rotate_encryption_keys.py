"""Re-encrypt every encrypted column with the first of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from clinic.crypto import column_rewrite, encrypted_columns, rotate_stale


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column with the first key of FIELD_ENCRYPTION_KEYS "
        "(MultiFernet.rotate), in batches. Safe to run again and while the site runs: "
        "values already under the first key are left alone. When it reports 0 "
        "re-encrypted everywhere, the older keys can be removed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=settings.PRIVACY_BATCH_SIZE)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        total = 0
        for model, columns in encrypted_columns():
            for column in columns:
                rewritten, kept = column_rewrite(
                    connection,
                    table=model._meta.db_table,
                    column=column,
                    transform=rotate_stale,
                    batch_size=batch_size,
                )
                total += rewritten
                self.stdout.write(
                    f"{model._meta.label}.{column}: {rewritten} re-encrypted, "
                    f"{kept} already under the first key"
                )
        self.stdout.write(self.style.SUCCESS(f"{total} values re-encrypted"))
