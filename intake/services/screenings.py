"""Pre-admission screenings: one instrument's answers checked once
(:func:`screening_check`), then stored encrypted with their score and band
(:func:`screening_store`); reads on the audit trail (:func:`screenings_access_record`);
erasure (:func:`screenings_erase`).

Opening the crisis protocol is the caller's part: ``scheduling.services.screenings``
stores through here and, when a screening ``opens_crisis``, makes the lead's callback
urgent and alerts a supervisor in the same transaction; then it marks the lead
"screened" (``intake.services.stages``). The answers, score and band
never go into an exception's message, a log line or a message to anyone: errors name
the question, never its answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clinic.audit import events
from clinic.errors import ApplicationError
from intake.instruments import ANSWER_MAX, ANSWER_MIN, INSTRUMENTS, Instrument
from intake.instruments import levels_of_care as configured_levels_of_care
from intake.instruments import presenting_concerns as configured_presenting_concerns
from intake.models import SCREENING_BLANK, SCREENING_READ, Screening


@dataclass(frozen=True)
class ScreeningRequest:
    """One instrument's answers, checked: ready to store."""

    instrument: Instrument
    answers: tuple[int, ...]
    presenting_concern: str
    level_of_care: str

    @property
    def score(self) -> int:
        return sum(self.answers)

    @property
    def band(self) -> str:
        return self.instrument.band_for(self.score).value

    @property
    def opens_crisis(self) -> bool:
        return self.instrument.opens_crisis(list(self.answers))


def _is_answer(value: Any) -> bool:
    # An int, not a bool (True is an int in Python), a float (1.0) or a string ("1").
    return type(value) is int and ANSWER_MIN <= value <= ANSWER_MAX


def screening_check(
    *,
    instrument: Any,
    answers: Any,
    presenting_concern: Any = "",
    level_of_care: Any = "",
) -> ScreeningRequest:
    """Check one instrument's answers as they came (from JSON or a form): ``instrument``
    a known one, ``answers`` a list of exactly its number of integers from 0 to 3,
    ``presenting_concern`` and ``level_of_care`` empty or from their configured lists.
    Raises ``ApplicationError`` (400) with every field's error, by field (an answer's
    as ``answers.<index>``, counted from 0)."""
    errors: dict[str, list[str]] = {}
    known = INSTRUMENTS.get(instrument) if isinstance(instrument, str) else None
    if known is None:
        errors["instrument"] = [f"Choose one of: {', '.join(INSTRUMENTS)}."]
    if not isinstance(answers, list | tuple):
        errors["answers"] = ["A list of answers, each a whole number from 0 to 3."]
    else:
        if known is not None and len(answers) != len(known.questions):
            errors["answers"] = [
                f"{known.label} has {len(known.questions)} questions: "
                f"{len(answers)} answers were given."
            ]
        for index, value in enumerate(answers):
            if not _is_answer(value):
                errors[f"answers.{index}"] = ["A whole number from 0 to 3."]
    concerns = {value for value, _label in configured_presenting_concerns()}
    if not isinstance(presenting_concern, str) or (
        presenting_concern and presenting_concern not in concerns
    ):
        errors["presenting_concern"] = [f"Choose one of: {', '.join(sorted(concerns))}."]
    levels = {value for value, _label in configured_levels_of_care()}
    if not isinstance(level_of_care, str) or (level_of_care and level_of_care not in levels):
        errors["level_of_care"] = [f"Choose one of: {', '.join(sorted(levels))}."]
    if errors:
        raise ApplicationError("The screening was not recorded.", fields=errors)
    assert known is not None  # for the type checker: errors were raised otherwise
    return ScreeningRequest(
        instrument=known,
        answers=tuple(answers),
        presenting_concern=presenting_concern,
        level_of_care=level_of_care,
    )


def screening_store(*, lead_id: int, request: ScreeningRequest, user_id: int | None) -> Screening:
    """Store a checked screening of ``lead_id``, its answers, score and band encrypted,
    and whether it opens the crisis protocol (PHQ-9 question 9 above 0). Storing is
    all it does: see the module for who opens the protocol, and who marks the lead
    "screened" (``intake.services.stages.lead_stage_reach``, which locks the lead: the
    caller takes that lock after its callback's, the order every write path keeps)."""
    return Screening.objects.create(
        lead_id=lead_id,
        instrument=request.instrument.value,
        answers=json.dumps(list(request.answers)),
        score=str(request.score),
        band=request.band,
        presenting_concern=request.presenting_concern,
        level_of_care=request.level_of_care,
        opens_crisis=request.opens_crisis,
        created_by_id=user_id,
    )


def screenings_access_record(*, screenings: Sequence[Screening], what: str, **detail: Any) -> int:
    """Record that the current user (``clinic.audit.events`` context) was shown these
    screenings (their answers, score or band) by ``what``: one event each, one INSERT.
    Returns how many were recorded."""
    return len(events.events_record(list(screenings), label=SCREENING_READ, read=what, **detail))


def screenings_erase(*, lead_id: int) -> int:
    """Blank every clinical value of the lead's screenings (erasure, retention): the fact
    that the person was screened, and when, stays for the funnel."""
    return Screening.objects.filter(lead_id=lead_id).update(**SCREENING_BLANK)
