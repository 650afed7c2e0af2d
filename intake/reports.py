"""Conversion reports for marketing, read from the funnel rollups (a selector module).

Everything here is an aggregate; nothing names, counts or finds a person. A count
below ``REPORT_MIN_CELL`` (N) leaves as the string "<N>", and every rate or time that
would let a reader work such a count out is None. For counts of people "below N" is
decided on the perturbed count (below), never on the true one, and so is whether a
row a submitter's text would key exists: one person more never flips a count from
"<N>" to a number, or a row into being, for certain. Every row's funnel is monotone
(``intake.report_funnel``): no stage shows more than the stage before it.

The disclosure rules (small-cell and complementary suppression, the cell key
perturbation that resists differencing, which times and rates may show) are
``intake.report_disclosure``; this module reads the rollups and applies them.

Grouped by article, each row also carries ``first_conversation``: how many of the
people whose first request came through the article have had their first conversation,
and the median and p90 of their wait (``intake.report_conversations``, from the lead's
own fields), under the same rules (``report_disclosure.shown_conversations``).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, Sum

from intake.models import (
    CONTACT_TIME_FIELDS,
    FUNNEL_EVENT_FIELDS,
    FUNNEL_KEY_FIELDS,
    FUNNEL_LEAD_FIELDS,
    Article,
    ArticleDailyCount,
    CtaEventType,
    CtaFormField,
    FunnelRollup,
    Submission,
)
from intake.report_conversations import TOTAL, article_conversations
from intake.report_disclosure import (
    HIDDEN,
    complementary_hidden,
    is_suppressed,
    min_cell,
    noise,
    noisy_count,
    shown_conversations,
    shown_row,
    suppressed_label,
)
from intake.services.rollups import ALL_SOURCES

Grain = FunnelRollup.Grain
Attribution = FunnelRollup.Attribution

GROUPS = (
    "article",
    "topic",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "source",
    "week",
    "month",
)
# Event counts exist per article and day only.
_EVENT_GROUPS = {"article", "topic", "week", "month"}
NONE_LABEL = "(none)"
# Free text never keys a row. A UTM value is its own row only when the clinic
# configured it (REPORT_KNOWN_*) or the perturbed count of people who came with it in
# the report's range is at least REPORT_MIN_CELL; the rest are folded into one
# "(other)" row, so a value one person typed (an email address in utm_campaign) never
# shows, and its people are still counted, suppressed, in that row and the total. An
# article made up by a submission (``needs_review``) is likewise folded into the rows
# without an article, "(unknown)", on the same rule.
OTHER_LABEL = "(other)"
UNKNOWN_LABEL = "(unknown)"
_KNOWN_SETTINGS = {
    "utm_source": "REPORT_KNOWN_SOURCES",
    "utm_medium": "REPORT_KNOWN_MEDIUMS",
    "utm_campaign": "REPORT_KNOWN_CAMPAIGNS",
}
_RESERVED_LABELS = {NONE_LABEL, OTHER_LABEL, UNKNOWN_LABEL}
_OTHER = object()  # the key of the "(other)" row: no submitted value can be it


@dataclass(frozen=True)
class Segment:
    grain: str
    start: date
    end: date  # inclusive, in period_start terms


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def segments(date_from: date, date_to: date, *, coarse: str) -> list[Segment]:
    """Cover [date_from, date_to] with whole ``coarse`` periods (week or month rows)
    and, at the edges, whole weeks within a month and day rows."""
    if coarse == Grain.WEEK:
        first = date_from + timedelta(days=(7 - date_from.weekday()) % 7)
        last_end = date_to - timedelta(days=(date_to.weekday() + 1) % 7)
        last = last_end - timedelta(days=6)
    else:
        first = date_from if date_from.day == 1 else _month_end(date_from) + timedelta(days=1)
        last_end = (
            date_to
            if date_to == _month_end(date_to)
            else date_to.replace(day=1) - timedelta(days=1)
        )
        last = last_end.replace(day=1)
    if first > last:
        out, edges = [], [(date_from, date_to)]
    else:
        out, edges = [Segment(coarse, first, last)], []
        if date_from < first:
            edges.append((date_from, first - timedelta(days=1)))
        if last_end < date_to:
            edges.append((last_end + timedelta(days=1), date_to))
    for start, end in edges:
        if coarse != Grain.MONTH:
            out.append(Segment(Grain.DAY, start, end))
            continue
        # Parts of months at the edges: per month, its whole weeks (so a week row never
        # straddles two months), then days.
        while start <= end:
            month_end = min(_month_end(start), end)
            out.extend(segments(start, month_end, coarse=Grain.WEEK))
            start = month_end + timedelta(days=1)
    return out


_GROUP_COLUMN = {
    "article": "article_id",
    "topic": "article__topic",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "source": "source",
    "week": "period_start",
    "month": "period_start",
}


def _group_value(group: str, value: Any) -> Any:
    if group == "week":
        return value - timedelta(days=value.weekday())
    if group == "month":
        return value.replace(day=1)
    return value


def _sums(
    *,
    date_from: date,
    date_to: date,
    group: str,
    attribution: str,
    article_id: int | None,
) -> dict[Any, dict[str, int]]:
    coarse = Grain.WEEK if group == "week" else Grain.MONTH
    lead_fields = (
        *FUNNEL_LEAD_FIELDS,
        *FUNNEL_KEY_FIELDS,
        *CONTACT_TIME_FIELDS,
    )
    column = _GROUP_COLUMN[group]
    # Lead rows, and CTA event rows where the grouping has them; each summed in one
    # query over whole periods and the days at the edges. Each branch of the OR names a
    # whole prefix of the index (attribution, grain, source, period_start), so each is
    # one exact index range; event rows sum only their three counters.
    if group in _EVENT_GROUPS:
        # The rows for all sources and campaigns, and the CTA events.
        parts = [
            (Q(attribution=attribution, source=ALL_SOURCES), lead_fields),
            (Q(attribution=Attribution.EVENTS), FUNNEL_EVENT_FIELDS),
        ]
    else:
        parts = [(Q(attribution=attribution) & ~Q(source=ALL_SOURCES), lead_fields)]
    out: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for kind, fields in parts:
        wanted = Q(pk__in=[])
        for segment in segments(date_from, date_to, coarse=coarse):
            wanted |= kind & Q(
                grain=segment.grain, period_start__range=(segment.start, segment.end)
            )
        rows = FunnelRollup.objects.filter(wanted)
        if article_id is not None:
            rows = rows.filter(article_id=article_id)
        for values in (
            rows.order_by()
            .values(column)
            .annotate(**{f"sum_{field}": Sum(field) for field in fields})
        ):
            bucket = out[_group_value(group, values[column])]
            for field in fields:
                bucket[field] += int(values[f"sum_{field}"] or 0)
    return out


def known_values(group: str) -> set[str]:
    """The UTM values of ``group`` the clinic configured as its own rows."""
    return set(getattr(settings, _KNOWN_SETTINGS[group], None) or ())


def _folded(
    group: str, sums: dict[Any, dict[str, int]], articles: dict[int, Article]
) -> dict[Any, dict[str, int]]:
    """``sums`` with every key a submitter chose, that is neither configured nor seen
    for REPORT_MIN_CELL people, added into one row: "(other)" for UTM values, the
    article-less row for articles made up by a submission. People are ``leads``
    (distinct people, not submissions), counted as the cell key method perturbs them:
    whether a row exists never depends on one person for certain (the insider who pads
    a made-up campaign with four people cannot read off whether a fifth came)."""
    threshold, spread = min_cell(), noise()

    def clears(values: dict[str, int]) -> bool:
        return noisy_count(values, "leads", spread=spread) >= threshold

    if group in _KNOWN_SETTINGS:
        known = known_values(group) - _RESERVED_LABELS

        def fold_to(key: Any) -> Any:
            if key == "" or key in known:
                return key
            if key in _RESERVED_LABELS or not clears(sums[key]):
                return _OTHER
            return key
    elif group == "article":

        def fold_to(key: Any) -> Any:
            article = articles.get(key)
            if article is None or not article.needs_review:
                return key
            return key if clears(sums[key]) else None
    else:
        return sums
    out: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, values in sums.items():
        bucket = out[fold_to(key)]
        for field, count in values.items():
            bucket[field] += count
    return out


def _label(group: str, key: Any, articles: dict[int, Article]) -> tuple[str, str]:
    if key is _OTHER:
        return OTHER_LABEL, OTHER_LABEL
    if group in ("article", "topic") and key is None:
        return "", UNKNOWN_LABEL  # rows without an article
    if group == "article":
        article = articles.get(key)
        return (article.slug, article.title) if article else ("", UNKNOWN_LABEL)
    if group in ("week", "month"):
        return key.isoformat(), key.isoformat() if group == "week" else key.strftime("%Y-%m")
    if group == "source":
        return key, str(dict(Submission.Source.choices).get(key, key or NONE_LABEL))
    return key or "", key or NONE_LABEL


def _row_order(key: Any) -> tuple[bool, bool, str]:
    return (key is _OTHER, key is None, "" if key is _OTHER else str(key))


def _conversation_rows(
    rows: list[dict[str, Any]],
    total: dict[str, Any],
    *,
    keys: list[Any],
    articles: dict[int, Article],
    date_from: date,
    date_to: date,
    article_id: int | None,
) -> None:
    """Give each article row and the total its ``first_conversation``. An article a
    submission made up is never measured on its own (its people are in the row
    without an article), so such a row, shown because enough people came with it,
    has none (null). With REPORT_NOISE=0 a total beside a suppressed row is withheld
    ("hidden"), as a small count could otherwise be worked out from it."""
    figures = article_conversations(date_from=date_from, date_to=date_to, article_id=article_id)
    for row, key in zip(rows, keys, strict=True):
        made_up = key is not None and (articles.get(key) is None or articles[key].needs_review)
        row["first_conversation"] = None if made_up else shown_conversations(figures.get(key))
    overall = shown_conversations(figures.get(TOTAL))
    small = any(
        isinstance((row["first_conversation"] or {}).get("conversations"), str) for row in rows
    )
    if noise() == 0 and small and isinstance(overall["conversations"], int):
        overall = {"conversations": HIDDEN, "median_seconds": None, "p90_seconds": None}
    total["first_conversation"] = overall


def article_funnel_report(
    *,
    date_from: date,
    date_to: date,
    group: str = "article",
    attribution: str = Attribution.FIRST,
    article_slug: str = "",
) -> dict[str, Any]:
    """The funnel per ``group`` over clinic days [date_from, date_to], and its total,
    from the rollups, suppressed. ``article_slug`` narrows it to one article."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    article_id = None
    if article_slug:
        article_id = Article.objects.filter(slug=article_slug).values_list("pk", flat=True).first()
        if article_id is None:
            article_id = -1  # an unknown article has no rows
    sums = _sums(
        date_from=date_from,
        date_to=date_to,
        group=group,
        attribution=attribution,
        article_id=article_id,
    )
    if group == "source":
        sums.pop("", None)  # event rows carry no source
    with_events = group in _EVENT_GROUPS
    articles = (
        {a.pk: a for a in Article.objects.filter(pk__in=[k for k in sums if k])}
        if group == "article"
        else {}
    )
    sums = _folded(group, sums, articles)
    kept = []
    total: dict[str, int] = defaultdict(int)
    for key in sorted(sums, key=_row_order):
        values = sums[key]
        if not any(values.values()):
            continue
        for field, count in values.items():
            total[field] += count
        kept.append((key, values))
    hidden = complementary_hidden([values for _key, values in kept], total)
    rows = []
    for (key, values), row_hidden in zip(kept, hidden, strict=True):
        slug_or_key, label = _label(group, key, articles)
        rows.append(
            {
                "key": slug_or_key,
                "label": label,
                **shown_row(values, with_events=with_events, hidden=row_hidden),
                "first_conversation": None,
            }
        )
    total_row = {
        "key": "",
        "label": "Total",
        **shown_row(total, with_events=with_events),
        "first_conversation": None,
    }
    if group == "article":
        _conversation_rows(
            rows,
            total_row,
            keys=[key for key, _values in kept],
            articles=articles,
            date_from=date_from,
            date_to=date_to,
            article_id=article_id,
        )
    return {
        "date_from": date_from,
        "date_to": date_to,
        "group": group,
        "attribution": attribution,
        "article": article_slug,
        "min_cell": min_cell(),
        "noise": noise(),
        "rows": rows,
        "total": total_row,
    }


def form_abandonment_report(
    *, date_from: date, date_to: date, article_slug: str = ""
) -> dict[str, Any]:
    """Per article, how many started forms were left unsent over clinic days
    [date_from, date_to], by the field the reader last touched (``form_abandon``
    events: counts of page views, names of fields, no values and no people).

    Exact counts under the small-cell rule of the CTA events: a count from 1 to
    REPORT_MIN_CELL - 1 is "<N", and an article whose counts are all suppressed is
    left out. No total is shown, so no shown cell gives a small one away by
    subtraction. Articles a submission made up are left out (their slugs are anyone's
    text). ``fields`` are the columns: every field with a count in some shown row, in
    the form's order."""
    threshold = min_cell()
    label = suppressed_label()
    rows = ArticleDailyCount.objects.filter(
        type=CtaEventType.FORM_ABANDON,
        day__range=(date_from, date_to),
        article__needs_review=False,
    ).exclude(field="")
    if article_slug:
        rows = rows.filter(article__slug=article_slug)
    sums: dict[int, dict[str, int]] = defaultdict(dict)
    for article_id, field, count in (
        rows.order_by().values_list("article_id", "field").annotate(total=Sum("count"))
    ):
        if count:
            sums[article_id][field] = int(count)
    articles = Article.objects.in_bulk(list(sums))
    shown = []
    for article_id, counts in sums.items():
        if all(is_suppressed(count) for count in counts.values()):
            continue
        article = articles[article_id]
        shown.append(
            {
                "key": article.slug,
                "label": article.title,
                "counts": {
                    field: label if count < threshold else count for field, count in counts.items()
                },
            }
        )
    shown.sort(key=lambda row: (row["label"].casefold(), row["key"]))
    used = {field for row in shown for field in row["counts"]}
    fields = [field for field in CtaFormField.values if field in used]
    for row in shown:
        row["counts"] = {field: row["counts"].get(field, 0) for field in fields}
    return {
        "date_from": date_from,
        "date_to": date_to,
        "article": article_slug,
        "min_cell": threshold,
        "fields": [{"name": field, "label": str(CtaFormField(field).label)} for field in fields],
        "rows": shown,
    }


def article_choices() -> list[tuple[str, str]]:
    """(slug, title) of every article the clinic made, for the dashboard's article
    picker (not those a submission made up: their slugs are anyone's text)."""
    return list(
        Article.objects.filter(needs_review=False).order_by("title").values_list("slug", "title")
    )
