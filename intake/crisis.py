"""Crisis triage: the resources shown at once, and the language that triggers them.

The phrase lists are maintained here, in English and Spanish, and reviewed with the
clinical team. They are matched on whole words after normalisation (case, accents,
apostrophes and punctuation do not matter), so "killing it at work" does not
trigger while "I want to kill myself" does. The lists lean towards sensitivity: a
false positive shows a helpline and moves a callback up the queue; a false negative
could cost a life. Add a phrase together with a test in
``tests/intake/test_crisis.py``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

# A bare "suicide" is left out on purpose: readers of the clinic's articles ask
# about "suicide risk" of a medicine, which is a question, not a crisis.
CRISIS_PHRASES_EN: tuple[str, ...] = (
    "suicidal",
    "commit suicide",
    "committing suicide",
    "attempt suicide",
    "thinking about suicide",
    "thinking of suicide",
    "thoughts of suicide",
    "considering suicide",
    "contemplating suicide",
    "kill myself",
    "killing myself",
    "kill my self",
    "end my life",
    "ending my life",
    "end it all",
    "take my own life",
    "take my life",
    "want to die",
    "wanna die",
    "wish i was dead",
    "wish i were dead",
    "better off dead",
    "better off without me",
    "no reason to live",
    "nothing to live for",
    "dont want to live",
    "do not want to live",
    "dont want to be alive",
    "do not want to be alive",
    "hurt myself",
    "hurting myself",
    "harm myself",
    "self harm",
    "selfharm",
    "cut myself",
    "cutting myself",
    "overdose on",
    "take an overdose",
    "took an overdose",
    "overdosing",
    "hang myself",
    "shoot myself",
)

CRISIS_PHRASES_ES: tuple[str, ...] = (
    "suicida",
    "suicidas",
    "pienso en el suicidio",
    "pensando en el suicidio",
    "suicidarme",
    "me quiero suicidar",
    "matarme",
    "me quiero matar",
    "quiero morir",
    "quiero morirme",
    "me quiero morir",
    "quitarme la vida",
    "acabar con mi vida",
    "terminar con mi vida",
    "no quiero vivir",
    "no quiero seguir viviendo",
    "no vale la pena vivir",
    "mejor muerto",
    "mejor muerta",
    "estaria mejor muerto",
    "estaria mejor muerta",
    "hacerme dano",
    "lastimarme",
    "tomar una sobredosis",
    "tome una sobredosis",
)


def normalise(text: str) -> str:
    """Lower case, no accents, no apostrophes, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    bare = re.sub(r"['\u2019\u2018`\u00b4]", "", bare)
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())


def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    words = sorted({normalise(phrase) for phrase in phrases}, key=len, reverse=True)
    alternatives = "|".join(re.escape(phrase) for phrase in words if phrase)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


_PATTERN = _phrase_pattern(CRISIS_PHRASES_EN + CRISIS_PHRASES_ES)


def crisis_language_in(text: str) -> bool:
    """True when ``text`` contains a listed crisis phrase as whole words."""
    if not text:
        return False
    return _PATTERN.search(normalise(text)) is not None


@dataclass(frozen=True)
class CrisisResource:
    name: str
    description: str
    #: Number to call, or "".
    phone: str
    #: Number to text, or "".
    sms: str


CRISIS_RESOURCES: tuple[CrisisResource, ...] = (
    CrisisResource(
        name="988 Suicide & Crisis Lifeline",
        description="Call or text 988, any time, free and confidential, in English or Spanish",
        phone="988",
        sms="988",
    ),
    CrisisResource(
        name="Emergency services",
        description="If you or someone else is in danger right now, call 911",
        phone="911",
        sms="",
    ),
)


def crisis_resources() -> list[dict[str, str]]:
    """The resources shown to a person in crisis, as the API and pages give them."""
    return [asdict(resource) for resource in CRISIS_RESOURCES]
