"""A funnel that adds up: no stage of a report row shows more than the stage before it.

The funnel runs article views, CTA views, form starts, submissions, leads, contacted,
booked, attended, admitted. Where the truth is nested (every lead made a submission,
everyone contacted is a lead) only the noise of the cell key method can turn it around
("Leads 9" above "Submissions 6" when both were 7). So each stage shows the larger of
its own published count and the shown count of the stage after it: a running maximum
from the bottom of the funnel up.

Why up from the bottom, not a running minimum down from the top:

- the later stages are the small, sensitive ones (admitted); they keep their own noise
  and never lose people because an earlier stage's noise fell;
- under last-touch attribution a row's truth is not nested: a person who came back
  through article B and was then reached is a lead of article A and contacted for B.
  B keeps its contacted count (what last touch is for) and shows at least as many leads;
  a running minimum would have erased B's contacts;
- the reader stages (article views, CTA views, form starts) are beacon counts, which can
  only fall short: a browser that blocks the beacon or runs no JavaScript, a phone call
  through the article's number, several requests from one page view. A shortfall shows
  the later stage's count, and rates from such a raised count are left out (``raised``).

Privacy: a shown count is a function of the published counts of its own row, each
already perturbed or suppressed, so it tells nothing they did not; in a nested funnel it
stays within REPORT_NOISE of the truth. Suppressed counts order as "more than 0, fewer
than N": a "<N" above a 0 raises the 0 to "<N", a number below a "<N" raises it to that
number. Counts that are withheld ("hidden") or do not apply (None) are skipped: the
stages on either side of them are compared with each other.
"""

from __future__ import annotations

from typing import Any

FUNNEL_ORDER = (
    "article_views",
    "cta_views",
    "form_starts",
    "submissions",
    "leads",
    "contacted",
    "consult_booked",
    "consult_attended",
    "admitted",
)
# Counted by the page's beacons (page views), not people.
BEACON_STAGES = frozenset(("article_views", "cta_views", "form_starts"))
_SMALL = 0.5  # where "<N" sorts: more than 0, fewer than any number shown (N or more)


def funnel_level(value: Any) -> float | None:
    """Where a shown count sorts in the funnel: its number, ``_SMALL`` for "<N", None
    for a count withheld or not applicable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("<"):
        return _SMALL
    return None


def funnel_monotone(counts: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``counts`` (shown values by stage) with every stage raised to at least the stage
    after it, and the stages that were raised."""
    shown = dict(counts)
    raised: set[str] = set()
    floor: Any = None
    floor_level: float | None = None
    for stage in reversed(FUNNEL_ORDER):
        level = funnel_level(counts.get(stage))
        if level is None:
            continue
        if floor_level is not None and level < floor_level:
            shown[stage] = floor
            raised.add(stage)
        else:
            floor, floor_level = counts[stage], level
    return shown, raised
