"""What a conversion report may show marketing: the disclosure rules, in one place.

Everything a report publishes is an aggregate. A count below ``REPORT_MIN_CELL`` (N)
leaves as the string "<N>" (``shown_count``), a count withheld so that a small one
cannot be recovered from the total leaves as "hidden" (``complementary_hidden``),
and every rate or time that would let a reader work such a count out is None
(``shown_row``). ``intake.reports`` applies these rules to the rollups; the API, its
CSV (``intake.report_table.csv_fields``), the dashboard's table and its charts
(``intake.report_charts``) tell a withheld count by ``is_withheld``.

Differencing. Suppressing small cells is not enough when the same people can be counted
in overlapping cells: a range one day longer, weeks against months, first against last
touch; subtract two exact counts and a count of one is back. So every count of people
is perturbed by the *cell key method* (Australian Bureau of Statistics, TableBuilder):
each lead and each submission has a secret pseudo-random record key
(``intake.record_keys.record_key``), the rollups keep beside each count the sum of
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

from typing import Any

from django.conf import settings

from intake.models import (
    CONTACT_TIME_EDGES,
    CONTACT_TIME_PARTS,
    FUNNEL_EVENT_FIELDS,
    FUNNEL_LEAD_FIELDS,
    cell_key_field,
    contact_time_field,
)
from intake.record_keys import RECORD_KEY_BITS
from intake.report_conversations import ConversationFigures
from intake.report_funnel import BEACON_STAGES, FUNNEL_ORDER, funnel_monotone

COUNT_FIELDS = FUNNEL_EVENT_FIELDS + FUNNEL_LEAD_FIELDS
# Counted per row like the stages, under the same rules, outside the funnel's order.
ADMISSION_STEP_FIELDS = ("screened", "insurance_verified", "waitlisted")
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
    # The admissions steps: counts of people like the stages, beside the funnel (not
    # in its order, as none follows another), so nothing raises them and no rate is
    # taken from them.
    for field in ADMISSION_STEP_FIELDS:
        row[field] = (
            HIDDEN
            if field in hidden
            else shown_count(sums, field, threshold=threshold, spread=spread)
        )

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


def is_withheld(value: Any) -> bool:
    """A published count that is not a number: "<N>" (small) or "hidden"."""
    return isinstance(value, str)


def withheld_reason(value: str, *, min_cell: int) -> str:
    """Why a count is not shown, in words (the CSV's flag column)."""
    return f"fewer than {min_cell}" if value.startswith("<") else "withheld"


def shown_conversations(figures: ConversationFigures | None) -> dict[str, Any]:
    """Time to first conversation of one row (``intake.report_conversations``), under
    the rules of every count of people: the count perturbed by its cell key and "<N>"
    below REPORT_MIN_CELL, and the times only beside a count shown as a number of at
    least REPORT_MIN_CELL - REPORT_NOISE people (a median of one or two is someone's
    own wait)."""
    if figures is None or figures.conversations <= 0:
        return {"conversations": 0, "median_seconds": None, "p90_seconds": None}
    threshold, spread = min_cell(), noise()
    count = figures.conversations
    if spread > 0:
        count += perturbation(figures.key_sum, spread)
    shown: int | str = count if count >= threshold else f"<{threshold}"
    hidden = not isinstance(shown, int) or figures.conversations < max(1, threshold - spread)
    return {
        "conversations": shown,
        "median_seconds": None if hidden else round(figures.median_seconds or 0),
        "p90_seconds": None if hidden else round(figures.p90_seconds or 0),
    }
