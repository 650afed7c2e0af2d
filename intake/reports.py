"""Conversion reports for marketing, read from the funnel rollups (a selector module).

Everything here is an aggregate; nothing names, counts or finds a person. A count
below ``REPORT_MIN_CELL`` (N) leaves as the string "<N>", and every rate or time that
would let a reader work such a count out is None. For counts of people "below N" is
decided on the perturbed count (below), never on the true one, and so is whether a
row a submitter's text would key exists: one person more never flips a count from
"<N>" to a number, or a row into being, for certain. Every row's funnel is monotone
(``intake.report_funnel``): no stage shows more than the stage before it.

Differencing. Suppressing small cells is not enough when the same people can be counted
in overlapping cells: a range one day longer, weeks against months, first against last
touch; subtract two exact counts and a count of one is back. So every count of people
is perturbed by the *cell key method* (Australian Bureau of Statistics, TableBuilder):
each lead and each submission has a secret pseudo-random record key
(``intake.services.rollups.record_key``), the rollups keep beside each count the sum of
its people's keys, and a published count is the true one plus a noise in
[-REPORT_NOISE, +REPORT_NOISE] that the cell key (that sum, modulo 2**20) decides. So:

- the same people always give the same published number, however the cell was reached
  (weekly or monthly rows, any grouping, either attribution, any repeat): averaging
  repeated or rephrased queries learns nothing;
- cells differing by even one person get unrelated noise, so the difference of two
  published counts is the true difference plus up to 2 * REPORT_NOISE of noise: a count
  of 1 to 4 cannot be read off it;
- zero stays zero, a count whose perturbed value is below N is "<N" (so 1 and 2
  always are), and no number below N is published; rates are taken between published
  counts.

Rounding each underlying cell instead (so any aggregate is built from already-safe
units) was the alternative: it needs a rounded copy of every counter kept per day and
summed, and its error grows with the number of days in the range, where this noise
stays within +-REPORT_NOISE at any range. CTA event counts (views, not people) carry no
record keys: they keep exact counts with small-cell and complementary suppression.
With REPORT_NOISE=0 (not allowed in production) counts of people are exact and
protected by complementary suppression alone, which resists subtraction from a total
but not differencing.
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
    CONTACT_TIME_EDGES,
    CONTACT_TIME_PARTS,
    FUNNEL_EVENT_FIELDS,
    FUNNEL_KEY_FIELDS,
    FUNNEL_LEAD_FIELDS,
    Article,
    ArticleDailyCount,
    CtaEventType,
    CtaFormField,
    FunnelRollup,
    Submission,
    cell_key_field,
    contact_time_field,
)
from intake.record_keys import RECORD_KEY_BITS
from intake.report_funnel import BEACON_STAGES, FUNNEL_ORDER, funnel_monotone
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
COUNT_FIELDS = FUNNEL_EVENT_FIELDS + FUNNEL_LEAD_FIELDS
# (name, numerator, denominator): the rate between each pair of funnel stages.
RATES = (
    ("cta_view_rate", "cta_views", "article_views"),
    ("form_start_rate", "form_starts", "cta_views"),
    ("submission_rate", "submissions", "form_starts"),
    ("contact_rate", "contacted", "leads"),
    ("booking_rate", "consult_booked", "contacted"),
    ("attendance_rate", "consult_attended", "consult_booked"),
    ("admission_rate", "admitted", "consult_attended"),
    ("lead_to_patient_rate", "admitted", "leads"),
)
# Rates between nested stages (everyone counted on top is counted below): at most 1,
# also when the two published counts were perturbed apart.
NESTED_RATES = {
    "contact_rate",
    "booking_rate",
    "attendance_rate",
    "admission_rate",
    "lead_to_patient_rate",
}
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


def min_cell() -> int:
    return int(getattr(settings, "REPORT_MIN_CELL", 5))


def suppressed_label() -> str:
    return f"<{min_cell()}"


def is_suppressed(count: int) -> bool:
    return 0 < count < min_cell()


def noise() -> int:
    return int(getattr(settings, "REPORT_NOISE", 2))


def is_perturbed(field: str, spread: int | None = None) -> bool:
    return (noise() if spread is None else spread) > 0 and field in FUNNEL_LEAD_FIELDS


def perturbation(cell_key: int, spread: int | None = None) -> int:
    """The noise a cell key decides: uniform over [-REPORT_NOISE, +REPORT_NOISE]."""
    spread = noise() if spread is None else spread
    share = (cell_key % (1 << RECORD_KEY_BITS)) / (1 << RECORD_KEY_BITS)
    return int(share * (2 * spread + 1)) - spread


def noisy_count(sums: dict[str, int], field: str, *, spread: int | None = None) -> int:
    """A count as the cell key method perturbs it (exact for CTA events, for zero and
    with REPORT_NOISE=0): the value every decision about the count is taken on."""
    spread = noise() if spread is None else spread
    count = sums.get(field, 0)
    if count <= 0 or not is_perturbed(field, spread):
        return count
    return count + perturbation(sums.get(cell_key_field(field), 0), spread)


def shown_count(
    sums: dict[str, int], field: str, *, threshold: int | None = None, spread: int | None = None
) -> int | str:
    """What a count leaves as: 0 for none, its noisy value when that is at least
    REPORT_MIN_CELL, else "<N>". Decided on the noisy value, never on the true count:
    one person more or less never flips a count between "<N>" and a number for certain.
    (``threshold`` and ``spread`` default to the settings, read once by the caller.)"""
    threshold = min_cell() if threshold is None else threshold
    if sums.get(field, 0) <= 0:
        return 0
    value = noisy_count(sums, field, spread=spread)
    return value if value >= threshold else f"<{threshold}"


def histogram_quantile(counts: list[int], share: float) -> int | None:
    """Seconds at ``share`` of a contact-time histogram, interpolated in its bucket
    (the open last bucket answers its lower edge)."""
    total = sum(counts)
    if not total:
        return None
    target = share * total
    seen = 0
    lower = 0
    for index, count in enumerate(counts):
        upper = CONTACT_TIME_EDGES[index] if index < len(CONTACT_TIME_EDGES) else None
        if count and seen + count >= target:
            if upper is None:
                return lower
            return round(lower + (upper - lower) * (target - seen) / count)
        seen += count
        lower = upper if upper is not None else lower
    return lower


def _time_fields(part: str) -> list[str]:
    return [contact_time_field(part, edge) for edge in (*CONTACT_TIME_EDGES, None)]


_TIME_FIELDS = {part: _time_fields(part) for part in CONTACT_TIME_PARTS}


def _shown_times(sums: dict[str, int], *, shown: bool, least: int) -> dict[str, Any]:
    """Times to first contact, when the row shows its contacted count as a number
    (``shown``: decided on the noisy count, like the count itself) and at least
    ``least`` contacts were measured (a median of one or two is someone's own wait)."""
    out = {}
    for part in CONTACT_TIME_PARTS:
        counts = [sums.get(field, 0) for field in _TIME_FIELDS[part]]
        hidden = not shown or sum(counts) < least
        out[part] = {
            "median_seconds": None if hidden else histogram_quantile(counts, 0.5),
            "p90_seconds": None if hidden else histogram_quantile(counts, 0.9),
        }
    return out


# A count hidden only so that a small one cannot be recovered by subtraction.
HIDDEN = "hidden"


def complementary_hidden(rows: list[dict[str, int]], total: dict[str, int]) -> list[set[str]]:
    """For each row, the count fields to hide besides the small ones themselves.

    A total is shown, so one small cell in a column could be recovered as the total
    minus the other rows. In every column the hidden cells must add up to at least
    ``REPORT_MIN_CELL`` (or to nothing): while they do not, the smallest shown
    non-zero cell of that column is hidden too."""
    hidden: list[set[str]] = [set() for _ in rows]
    if len(rows) < 2:
        return hidden
    threshold, spread = min_cell(), noise()
    for field in COUNT_FIELDS:
        if is_perturbed(field, spread):
            continue  # the total minus the others is a noisy number, not the small count
        if 0 < total.get(field, 0) < threshold:
            continue  # every non-zero cell of this column is small and hidden already
        hidden_sum = sum(r.get(field, 0) for r in rows if 0 < r.get(field, 0) < threshold)
        while 0 < hidden_sum < threshold:
            shown = [
                (r.get(field, 0), index)
                for index, r in enumerate(rows)
                if r.get(field, 0) >= threshold and field not in hidden[index]
            ]
            if not shown:
                break
            value, index = min(shown)
            hidden[index].add(field)
            hidden_sum += value
    return hidden


def shown_row(
    sums: dict[str, int], *, with_events: bool, hidden: set[str] = frozenset()
) -> dict[str, Any]:
    """One row of the report, suppressed, its funnel monotone (``intake.report_funnel``);
    ``hidden`` fields show as "hidden". Rates are taken between shown counts, and left
    out when either is not a number or is a beacon count raised to the stage after it."""
    threshold, spread = min_cell(), noise()
    own: dict[str, Any] = {}
    for field in FUNNEL_ORDER:
        if field in FUNNEL_EVENT_FIELDS and not with_events:
            own[field] = None
        elif field in hidden:
            own[field] = HIDDEN
        else:
            own[field] = shown_count(sums, field, threshold=threshold, spread=spread)
    row, raised = funnel_monotone(own)
    estimates = raised & BEACON_STAGES

    def rate(top: Any, bottom: Any, nested: bool) -> float | None:
        if not isinstance(top, int) or not isinstance(bottom, int) or not bottom:
            return None
        value = round(top / bottom, 4)
        return min(value, 1.0) if nested else value

    row["rates"] = {
        name: None
        if {top, bottom} & estimates
        else rate(row[top], row[bottom], name in NESTED_RATES)
        for name, top, bottom in RATES
    }
    row["first_contact"] = _shown_times(
        sums, shown=isinstance(own["contacted"], int), least=max(1, threshold - spread)
    )
    within = shown_count(sums, "contacted_within_target", threshold=threshold, spread=spread)
    row["contacted_within_target_share"] = rate(within, own["contacted"], True)
    return row


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
        *(f for part in CONTACT_TIME_PARTS for f in _time_fields(part)),
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
            }
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
        "total": {"key": "", "label": "Total", **shown_row(total, with_events=with_events)},
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
