"""Anonymous call-to-action events: counted in the cache, added up per clinic day.

A beacon costs one cache increment (Redis ``INCR`` in production) and no database
write. A ``form_abandon`` beacon (a started form left unsent) also names the field the
reader last touched, from the fixed ``CtaFormField`` list; it is counted per field.
``cta_event_counts_flush``, run every minute by beat, moves the counters of today and
yesterday into ``ArticleDailyCount``. No IP, cookie or personal data is
involved anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from intake.models import Article, ArticleDailyCount, CtaEventType, CtaFormField
from intake.throttles import Limit, limit_then_incr

logger = logging.getLogger(__name__)

# Obvious bots: crawlers, link previews, monitors, headless browsers and HTTP libraries.
BOT_USER_AGENT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrap|preview|monitor|uptime|pingdom|headless|phantom"
    r"|selenium|puppeteer|playwright|lighthouse|facebookexternalhit|embedly|whatsapp"
    r"|python-|curl/|wget/|httpclient|okhttp|go-http|java/|axios|node-fetch|libwww",
    re.IGNORECASE,
)
COUNTER_TTL_SECONDS = 3 * 24 * 60 * 60
_FLUSH_LOCK = "intake:cta-events:flush-lock"
_BATCH = 500


def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or BOT_USER_AGENT.search(user_agent) is not None


def clinic_day(now: datetime | None = None) -> date:
    """Today in the clinic's time zone: the day a count belongs to."""
    return timezone.localdate(now or timezone.now(), ZoneInfo(settings.CLINIC_TIME_ZONE))


def _counter_key(*, day: date, event_type: str, slug: str, field: str = "") -> str:
    key = f"intake:cta-events:{day:%Y%m%d}:{event_type}:{slug}"
    return f"{key}:{field}" if field else key


def _fields_of(event_type: str) -> tuple[str, ...]:
    """The ``field`` values an event type is counted under."""
    return tuple(CtaFormField.values) if event_type == CtaEventType.FORM_ABANDON else ("",)


class EventThrottled(Exception):
    """Past the per-IP beacon limit; ``wait`` is the Retry-After in seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


def cta_event_record(
    *,
    article_slug: str,
    event_type: str,
    user_agent: str,
    client_address: str,
    field: str = "",
) -> bool:
    """Count one event for an article today, within the per-IP beacon limit of
    ``client_address`` (the limit and the count in one Redis round trip). Returns
    False when it was not counted (an obvious bot, no usable slug, or a ``field`` that
    does not fit the type: ``form_abandon`` needs one of ``CtaFormField``, the others
    none); raises ``EventThrottled`` past the limit. Slugs of unknown articles are
    counted too, but only known articles are ever flushed, so junk simply expires."""
    slug = slugify(article_slug)[:200]
    counted = (
        not is_bot(user_agent)
        and bool(slug)
        and event_type in CtaEventType.values
        and field in _fields_of(event_type)
    )
    key = (
        _counter_key(day=clinic_day(), event_type=event_type, slug=slug, field=field)
        if counted
        else None
    )
    verdict = limit_then_incr(
        Limit("cta_event_ip", client_address), counter=key, counter_ttl=COUNTER_TTL_SECONDS
    )
    if not verdict.allowed:
        raise EventThrottled(verdict.wait)
    return counted


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _count_add(*, article_id: int, day: date, event_type: str, field: str, count: int) -> None:
    """Upsert: add ``count`` to the row, creating it at ``count`` the first time."""
    rows = ArticleDailyCount.objects.filter(
        article_id=article_id, day=day, type=event_type, field=field
    )
    if rows.update(count=F("count") + count):
        return
    try:
        with transaction.atomic():
            ArticleDailyCount.objects.create(
                article_id=article_id, day=day, type=event_type, field=field, count=count
            )
    except IntegrityError:  # created meanwhile
        rows.update(count=F("count") + count)


def cta_event_counts_flush(*, now: datetime | None = None) -> int:
    """Move today's and yesterday's cached counters of known articles into
    ``ArticleDailyCount``; returns how many events moved.

    A counter is decremented by what was read only after the rows committed, so
    events counted meanwhile wait for the next flush. One flush runs at a time."""
    if not cache.add(_FLUSH_LOCK, 1, timeout=50):
        return 0
    try:
        today = clinic_day(now)
        targets: dict[str, tuple[int, date, str, str]] = {}
        for slug, article_id in Article.objects.values_list("slug", "pk").iterator():
            for day in (today - timedelta(days=1), today):
                for event_type in CtaEventType.values:
                    for field in _fields_of(event_type):
                        key = _counter_key(day=day, event_type=event_type, slug=slug, field=field)
                        targets[key] = (article_id, day, event_type, field)
        moved = 0
        for keys in _chunks(list(targets), _BATCH):
            taken = {
                key: int(value) for key, value in cache.get_many(keys).items() if int(value) > 0
            }
            if not taken:
                continue
            with transaction.atomic():
                for key, count in taken.items():
                    article_id, day, event_type, field = targets[key]
                    _count_add(
                        article_id=article_id,
                        day=day,
                        event_type=event_type,
                        field=field,
                        count=count,
                    )
            for key, count in taken.items():
                with contextlib.suppress(ValueError):  # expired meanwhile
                    cache.decr(key, count)
            moved += sum(taken.values())
        return moved
    finally:
        cache.delete(_FLUSH_LOCK)
