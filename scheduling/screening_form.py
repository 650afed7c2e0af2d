"""The screening form of the callback page (no JavaScript): PHQ-9 and GAD-7 as radio
groups named ``phq9_1``...``gad7_7``, with the presenting concern and the recommended
level of care. An instrument left wholly blank is not recorded; one partly answered
is refused with each unanswered question named. What the coordinator chose is shown
again after a refusal, the error by its question."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clinic.errors import ApplicationError
from intake import instruments
from intake import services as intake_services
from intake.instruments import INSTRUMENTS, SCALE
from intake.services import ScreeningRequest

CHOOSE_ANSWER = "Choose an answer."
ANSWER_ONE = "Answer every question of PHQ-9 or GAD-7 (or both)."
_ANSWER_VALUES = {str(value) for value, _label in SCALE}


def _name(instrument: str, number: int) -> str:
    return f"{instrument}_{number}"


FIELD_NAMES = (
    *(
        _name(instrument.value, number)
        for instrument in INSTRUMENTS.values()
        for number in range(1, len(instrument.questions) + 1)
    ),
    "presenting_concern",
    "level_of_care",
)


@dataclass(frozen=True)
class Question:
    name: str
    number: int
    text: str
    chosen: str
    error: str


@dataclass(frozen=True)
class InstrumentForm:
    value: str
    label: str
    questions: list[Question]


@dataclass(frozen=True)
class ScreeningForm:
    instruments: list[InstrumentForm]
    scale: tuple[tuple[int, str], ...]
    concerns: list[tuple[str, str]]
    levels: list[tuple[str, str]]
    concern_chosen: str
    level_chosen: str
    concern_error: str
    level_error: str
    error: str


def screening_form(*, typed: Mapping[str, str], errors: Mapping[str, str]) -> ScreeningForm:
    """The form to show: blank, or as it was sent with ``errors`` by field name (and
    ``"screening"`` for the whole form)."""
    return ScreeningForm(
        instruments=[
            InstrumentForm(
                value=instrument.value,
                label=instrument.label,
                questions=[
                    Question(
                        name=_name(instrument.value, number),
                        number=number,
                        text=text,
                        chosen=typed.get(_name(instrument.value, number), ""),
                        error=errors.get(_name(instrument.value, number), ""),
                    )
                    for number, text in enumerate(instrument.questions, start=1)
                ],
            )
            for instrument in INSTRUMENTS.values()
        ],
        scale=SCALE,
        concerns=instruments.presenting_concerns(),
        levels=instruments.levels_of_care(),
        concern_chosen=typed.get("presenting_concern", ""),
        level_chosen=typed.get("level_of_care", ""),
        concern_error=errors.get("presenting_concern", ""),
        level_error=errors.get("level_of_care", ""),
        error=errors.get("screening", ""),
    )


def screening_requests(form: Mapping[str, str]) -> list[ScreeningRequest]:
    """The screenings a sent form asks to record, each checked by intake
    (``screening_check``). Raises ``ApplicationError`` with the form's field names
    under ``fields`` (``phq9_4``, ``presenting_concern``...) when one is refused."""
    concern = form.get("presenting_concern", "")
    level = form.get("level_of_care", "")
    requests: list[ScreeningRequest] = []
    errors: dict[str, list[str]] = {}
    for instrument in INSTRUMENTS.values():
        raw = [
            form.get(_name(instrument.value, number), "")
            for number in range(1, len(instrument.questions) + 1)
        ]
        if not any(raw):
            continue
        try:
            requests.append(
                intake_services.screening_check(
                    instrument=instrument.value,
                    answers=[int(value) if value in _ANSWER_VALUES else value for value in raw],
                    presenting_concern=concern,
                    level_of_care=level,
                )
            )
        except ApplicationError as error:
            for field, messages in (error.fields or {}).items():
                if field.startswith("answers."):
                    index = int(field.removeprefix("answers."))
                    errors[_name(instrument.value, index + 1)] = [CHOOSE_ANSWER]
                else:
                    errors[field] = messages
    if not requests and not errors:
        errors["screening"] = [ANSWER_ONE]
    if errors:
        raise ApplicationError("The screening was not recorded.", fields=errors)
    return requests
