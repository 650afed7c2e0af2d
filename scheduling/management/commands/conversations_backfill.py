"""``manage.py conversations_backfill``: stop the speed-to-lead clock of leads whose
first conversation happened before the clock existed, from the calls, attempts and text
exchanges already recorded. Safe to run again, and alongside live traffic: the earliest
moment wins (``scheduling.services.conversations``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from scheduling.services import conversations


class Command(BaseCommand):
    help = "Record first attempts and first conversations from existing calls, attempts and texts."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = conversations.conversations_backfill()
        self.stdout.write(
            "Clocks moved: " + ", ".join(f"{count} by {kind}" for kind, count in counts.items())
        )
