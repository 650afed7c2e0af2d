"""The screening instruments a coordinator reads out during the call: PHQ-9 (depression)
and GAD-7 (anxiety), both in the public domain (Pfizer; Spitzer, Williams, Kroenke),
with their questions, answer scale and the published severity bands.

Each question is answered 0 to 3 for the last two weeks; the score is the sum. Bands
(Kroenke 2001; Spitzer 2006): PHQ-9 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19
moderately severe, 20-27 severe; GAD-7 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21
severe. PHQ-9's ninth question (thoughts of being better off dead or of self-harm)
answered above 0 is a crisis whatever the score.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

PHQ9 = "phq9"
GAD7 = "gad7"

STEM = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"

# The answer scale both instruments share, by value.
SCALE: tuple[tuple[int, str], ...] = (
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
)
ANSWER_MIN = 0
ANSWER_MAX = 3


@dataclass(frozen=True)
class Band:
    #: The highest score in the band (the lowest is the previous band's top + 1).
    top: int
    value: str
    label: str


@dataclass(frozen=True)
class Instrument:
    value: str
    label: str
    questions: tuple[str, ...]
    bands: tuple[Band, ...]
    #: The 0-based index of the question whose answer above 0 opens the crisis protocol.
    crisis_question: int | None = None

    @property
    def max_score(self) -> int:
        return len(self.questions) * ANSWER_MAX

    def band_for(self, score: int) -> Band:
        """The published severity band of ``score`` (0 to ``max_score``)."""
        for band in self.bands:
            if score <= band.top:
                return band
        raise ValueError(f"{self.label} scores run from 0 to {self.max_score}, not {score}")

    def opens_crisis(self, answers: list[int]) -> bool:
        return self.crisis_question is not None and answers[self.crisis_question] > 0


INSTRUMENTS: dict[str, Instrument] = {
    PHQ9: Instrument(
        value=PHQ9,
        label="PHQ-9",
        questions=(
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself, or that you are a failure or have let yourself "
            "or your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Moving or speaking so slowly that other people could have noticed, or the "
            "opposite: being so fidgety or restless that you have been moving around a lot "
            "more than usual",
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
        ),
        bands=(
            Band(4, "minimal", "Minimal"),
            Band(9, "mild", "Mild"),
            Band(14, "moderate", "Moderate"),
            Band(19, "moderately_severe", "Moderately severe"),
            Band(27, "severe", "Severe"),
        ),
        crisis_question=8,
    ),
    GAD7: Instrument(
        value=GAD7,
        label="GAD-7",
        questions=(
            "Feeling nervous, anxious, or on edge",
            "Not being able to stop or control worrying",
            "Worrying too much about different things",
            "Trouble relaxing",
            "Being so restless that it is hard to sit still",
            "Becoming easily annoyed or irritable",
            "Feeling afraid, as if something awful might happen",
        ),
        bands=(
            Band(4, "minimal", "Minimal"),
            Band(9, "mild", "Mild"),
            Band(14, "moderate", "Moderate"),
            Band(21, "severe", "Severe"),
        ),
    ),
}

BAND_LABELS: dict[str, str] = {
    band.value: band.label for instrument in INSTRUMENTS.values() for band in instrument.bands
}

# Labels of the configured choices' values (``SCREENING_PRESENTING_CONCERNS``,
# ``SCREENING_LEVELS_OF_CARE``); a value without one is shown capitalised.
_CHOICE_LABELS = {
    "substance-use": "Substance use",
    "alcohol": "Alcohol use",
    "opioids": "Opioid use",
    "ocd": "OCD",
    "ptsd": "PTSD",
    "adhd": "ADHD",
    "eating": "Eating disorder",
    "self-harm": "Self-harm or suicidal thoughts",
    "outpatient": "Outpatient (OP)",
    "intensive-outpatient": "Intensive outpatient (IOP)",
    "partial-hospitalization": "Partial hospitalization (PHP)",
    "residential": "Residential",
    "inpatient-detox": "Inpatient or medically managed detox",
    "refer-out": "Refer out (not a fit for this clinic)",
}


def _choices(values: list[str]) -> list[tuple[str, str]]:
    return [
        (value, _CHOICE_LABELS.get(value) or value.replace("-", " ").capitalize())
        for value in values
    ]


def presenting_concerns() -> list[tuple[str, str]]:
    """The presenting concerns a coordinator may record (``SCREENING_PRESENTING_CONCERNS``)."""
    return _choices(settings.SCREENING_PRESENTING_CONCERNS)


def levels_of_care() -> list[tuple[str, str]]:
    """The levels of care a coordinator may recommend (``SCREENING_LEVELS_OF_CARE``)."""
    return _choices(settings.SCREENING_LEVELS_OF_CARE)


def choice_label(value: str) -> str:
    """How a presenting concern or level of care reads on the page ("" for none)."""
    return _choices([value])[0][1] if value else ""
