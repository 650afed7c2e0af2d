"""Crisis language detection against the corpus in ``tests/intake/crisis_phrases/``:
every crisis phrasing recognised (recall 100%), no ordinary sentence taken for one.

The corpus is plain text, one phrasing a line, so the clinical team can read and
extend it without touching code. A phrasing that fails here is fixed in the rules of
``intake/crisis_rules.py`` (by the general pattern it belongs to, not by listing it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.crisis import crisis_language_in

CORPUS = Path(__file__).parent / "crisis_phrases"


def phrases(name: str) -> list[str]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_corpus_holds_enough_phrasings_in_each_language():
    assert len(phrases("en.txt")) >= 150
    assert len(phrases("es.txt")) >= 80
    assert len(phrases("not_crisis_en.txt")) >= 40
    assert len(phrases("not_crisis_es.txt")) >= 30


def test_no_phrasing_is_both_crisis_and_ordinary():
    crisis = {p.casefold() for p in phrases("en.txt") + phrases("es.txt")}
    ordinary = {p.casefold() for p in phrases("not_crisis_en.txt") + phrases("not_crisis_es.txt")}
    assert crisis & ordinary == set()


@pytest.mark.parametrize("phrase", phrases("en.txt") + phrases("es.txt"))
def test_every_crisis_phrasing_is_recognised(phrase):
    assert crisis_language_in(phrase) is True


@pytest.mark.parametrize("phrase", phrases("en.txt") + phrases("es.txt"))
def test_a_crisis_phrasing_is_recognised_inside_a_longer_message(phrase):
    message = f"Hello, I read the article. {phrase} Please call me after 5."
    assert crisis_language_in(message) is True


@pytest.mark.parametrize("phrase", phrases("not_crisis_en.txt") + phrases("not_crisis_es.txt"))
def test_an_ordinary_sentence_is_not_crisis_language(phrase):
    assert crisis_language_in(phrase) is False
