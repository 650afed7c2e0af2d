"""The conversion funnel's counts: anonymous call-to-action events per article and day,
and the rollups of leads by article, campaign and day (aggregates only)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from intake.models.leads import Article


class CtaEventType(models.TextChoices):
    ARTICLE_VIEW = "article_view", "Article view"
    CTA_VIEW = "cta_view", "Call to action seen"
    FORM_START = "form_start", "Form started"
    FORM_ABANDON = "form_abandon", "Form left unsent"


class CtaFormField(models.TextChoices):
    """The fields of the CTA form a ``form_abandon`` event may name (the last one the
    reader touched): names only, never what was typed. The two contact-preference
    boxes count as one."""

    FIRST_NAME = "first_name", "First name"
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    IN_CRISIS = "in_crisis", "I need help right now"
    SMS_CONSENT = "sms_consent", "SMS consent"
    LAST_NAME = "last_name", "Last name"
    PREFERRED_CHANNEL = "preferred_channel", "How to reach you"
    BEST_TIME = "best_time", "Best time"
    INTEREST = "interest", "Help with"
    MESSAGE = "message", "Message"
    CONTACT_PREFERENCES = "contact_preferences", "Contact preferences"


class ArticleDailyCount(models.Model):
    """How often an article was read, its CTA seen, its form started, and its form
    left unsent (per field last touched), per clinic day.

    Counted anonymously (no IP, no cookie) in the cache and added here by
    ``intake.tasks.cta_event_counts_flush``."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="daily_counts")
    day = models.DateField(help_text="In the clinic's time zone.")
    type = models.CharField(max_length=20, choices=CtaEventType.choices)
    field = models.CharField(
        max_length=40,
        choices=CtaFormField.choices,
        blank=True,
        default="",
        db_default="",  # raw INSERTs (bench/reports.py) and older code name no field
        help_text="form_abandon: the field last touched; empty for the other types.",
    )
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day", "article", "type", "field"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "day", "type", "field"], name="article_daily_count_unique"
            ),
        ]

    def __str__(self) -> str:
        field = f" {self.field}" if self.field else ""
        return f"{self.article_id} {self.day} {self.type}{field}: {self.count}"


# Time-to-first-contact histogram: a bucket is named by its upper edge in seconds;
# the last one ("over") holds everything past two days.
CONTACT_TIME_EDGES = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800)
CONTACT_TIME_PARTS = ("system", "coordinators")


def contact_time_field(part: str, edge: int | None) -> str:
    return f"{part}_le_{edge}" if edge is not None else f"{part}_over"


CONTACT_TIME_FIELDS = tuple(
    contact_time_field(part, edge)
    for part in CONTACT_TIME_PARTS
    for edge in (*CONTACT_TIME_EDGES, None)
)
FUNNEL_LEAD_FIELDS = (
    "submissions",
    "leads",
    "contacted",
    "consult_booked",
    "consult_attended",
    "admitted",
    "contacted_within_target",
    # Admissions steps (intake.services.stages): each counted at its own time stamp,
    # not implied by a later stage (they are steps beside the funnel, not in it).
    "screened",
    "insurance_verified",
    "waitlisted",
)
FUNNEL_EVENT_FIELDS = ("article_views", "cta_views", "form_starts")
FUNNEL_FIELDS = FUNNEL_EVENT_FIELDS + FUNNEL_LEAD_FIELDS + CONTACT_TIME_FIELDS


def cell_key_field(field: str) -> str:
    return f"{field}_key"


# Beside each count of people, the sum of their record keys (intake.reports: the cell
# key that seeds a count's perturbation, the same whichever way a cell is reached).
FUNNEL_KEY_FIELDS = tuple(cell_key_field(field) for field in FUNNEL_LEAD_FIELDS)
ROLLUP_COUNTERS = FUNNEL_FIELDS + FUNNEL_KEY_FIELDS
# What names one rollup row (the columns of its unique key); every other column but the
# primary key is a counter. The write paths' upserts and the nightly rebuild use it.
ROLLUP_IDENTITY = (
    "grain",
    "period_start",
    "attribution",
    "article_id",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)


class FunnelRollup(models.Model):
    """Aggregate counters of the conversion funnel: no person can be found in them.

    One row per period (a clinic day, an ISO week from Monday, a month from its first
    day), article, form or phone, UTM source/medium/campaign and attribution model.
    Lead counters are kept up to date by intake's write paths
    (``intake.services.rollups``) and rebuilt nightly from the raw rows; CTA event
    counters (attribution "") are copied from ``ArticleDailyCount``. Week and month rows
    exist so that long ranges read a few thousand rows, not millions.
    """

    class Grain(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    class Attribution(models.TextChoices):
        FIRST = "first", "First touch"
        LAST = "last", "Last touch"
        EVENTS = "", "CTA events (no attribution)"

    grain = models.CharField(max_length=5, choices=Grain.choices)
    period_start = models.DateField(help_text="In the clinic's time zone.")
    attribution = models.CharField(max_length=5, choices=Attribution.choices, blank=True)
    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=10, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)

    article_views = models.IntegerField(default=0)
    cta_views = models.IntegerField(default=0)
    form_starts = models.IntegerField(default=0)
    submissions = models.IntegerField(default=0)
    leads = models.IntegerField(default=0)
    contacted = models.IntegerField(default=0)
    consult_booked = models.IntegerField(default=0)
    consult_attended = models.IntegerField(default=0)
    admitted = models.IntegerField(default=0)
    contacted_within_target = models.IntegerField(default=0)
    screened = models.IntegerField(default=0)
    insurance_verified = models.IntegerField(default=0)
    waitlisted = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "grain",
                    "period_start",
                    "attribution",
                    "article",
                    "source",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                ],
                condition=Q(article__isnull=False),
                name="funnel_rollup_unique",
            ),
            models.UniqueConstraint(
                fields=[
                    "grain",
                    "period_start",
                    "attribution",
                    "source",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                ],
                condition=Q(article__isnull=True),
                name="funnel_rollup_unique_no_article",
            ),
        ]
        indexes = [
            models.Index(
                fields=["attribution", "grain", "source", "period_start"],
                name="funnel_rollup_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.period_start} {self.attribution or 'events'}"


for _name in CONTACT_TIME_FIELDS:
    FunnelRollup.add_to_class(_name, models.IntegerField(default=0))
for _name in FUNNEL_KEY_FIELDS:
    FunnelRollup.add_to_class(_name, models.BigIntegerField(default=0))
