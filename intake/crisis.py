"""Crisis triage: the resources shown at once, and the language that triggers them.

Crisis language is found by rules (``intake/crisis_rules.py``), in English and Spanish,
reviewed with the clinical team: each rule is a pattern for a way people say it
(direct words, a death wish, no point or reason in living, being a burden, a method, a
farewell, self-harm, a plan), not a list of sentences, so phrasings nobody wrote down
are caught too. A message is normalised first (``clinic.text.words``: case, accents, apostrophes and
punctuation do not matter, so "dont", "don't" and "don\u2019t" are one word, "accion"
and "acción" too) and matched sentence by sentence on whole words, so "killing it at
work" and "my phone died" do not trigger while "I want to kill myself" does.

This is a safety net, not a diagnosis. The rules lean towards sensitivity: a false
positive shows a helpline and moves a callback up the queue; a false negative could
cost a life. Every rule is tested against the corpus in ``tests/intake/crisis_phrases/``
(plain text, one phrasing a line) and against a list of ordinary sentences that must
not trigger; a phrasing the rules miss is added there and fixed by widening the rule it
belongs to.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from clinic.text import words as normalise
from intake.crisis_rules import RULES_EN, RULES_ES

_PATTERN = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        f"(?:{pattern})"
        for rules in (RULES_EN, RULES_ES)
        for patterns in rules.values()
        for pattern in patterns
    )
    + r")(?!\w)"
)
# Sentences are matched one by one, so words of two sentences never make a phrase; an
# ellipsis ("I just... want it to end") does not end one.
_SENTENCE_END = re.compile(r"[.!?;\n\r]+")
_ELLIPSIS = re.compile(r"\.{2,}|\u2026")


def crisis_language_in(text: str) -> bool:
    """True when a sentence of ``text`` says something a rule recognises as crisis
    language (a safety net, not a diagnosis: see the module's docstring)."""
    if not text:
        return False
    sentences = _SENTENCE_END.split(_ELLIPSIS.sub(" ", text))
    return any(_PATTERN.search(normalise(sentence)) for sentence in sentences)


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
