"""Text folded for matching, the one way every app does it: crisis language
(``intake.crisis``), words a message may not say (``notifications.wording``) and
opt-out replies (``notifications.replies``)."""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NOT_WORD = re.compile(r"[\W_]+")


def folded(text: str) -> str:
    """Lower case (``casefold``) and without accents ("Acción" reads "accion");
    nothing else changes."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> str:
    """Lower case, no accents, no apostrophes, words separated by single spaces
    ("Don\u2019t  stop!" reads "dont stop")."""
    return " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", folded(text))).split())
