"""What the apps may change of the clinic's own records: its opening hours (the admin
edits them; a first setup or the demo data sets them through here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time

from django.db import transaction

from clinic import business_time
from clinic.models import OpeningHours


def opening_hours_seed(*, intervals: Iterable[tuple[int, time, time]]) -> bool:
    """Set the weekly opening hours to ``intervals`` (weekday, opens, closes) when none
    are set yet; hours someone set are never replaced. True when it set them."""
    with transaction.atomic():
        if OpeningHours.objects.exists():
            return False
        OpeningHours.objects.bulk_create(
            OpeningHours(weekday=weekday, opens_at=opens, closes_at=closes)
            for weekday, opens, closes in intervals
        )
    business_time.forget()
    return True
