"""Clinic time: the hours the clinic is open each week and the days it is closed.

Made in scheduling and moved here without touching the database: the tables keep
scheduling's names (``Meta.db_table``), and so do their audit event tables and
triggers (``audited(moved_from="scheduling")``); migrations 0001 here and scheduling's
0018 move only Django's state.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from clinic.audit.events import audited


@audited(moved_from="scheduling")
class OpeningHours(models.Model):
    """One open interval on a weekday; several per day allow a lunch break."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        db_table = "scheduling_openinghours"
        ordering = ["weekday", "opens_at"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="opening_hours_closes_after_opens"
            ),
            models.UniqueConstraint(fields=["weekday", "opens_at"], name="opening_hours_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


@audited(moved_from="scheduling")
class ClinicClosure(models.Model):
    """A whole day the clinic is closed (a holiday or an ad-hoc closure)."""

    day = models.DateField(unique=True)
    reason = models.CharField(max_length=200)

    class Meta:
        db_table = "scheduling_clinicclosure"
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.reason}"
