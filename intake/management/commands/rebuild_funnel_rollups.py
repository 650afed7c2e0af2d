"""``manage.py rebuild_funnel_rollups``: the nightly reconciliation, now."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from intake.services import funnel_rollups_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the funnel rollups from the raw rows now, as beat does every night. "
        "Run it once after upgrading past intake migration 0005 (record keys and "
        "day rows for all sources are filled in by it)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        drift = funnel_rollups_rebuild()
        self.stdout.write(
            f"Funnel rollups rebuilt in {time.monotonic() - started:.1f} s; "
            f"{drift} rows had drifted."
        )
