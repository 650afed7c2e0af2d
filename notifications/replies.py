"""What a text from a person means: a keyword, a request to stop, or a reply.

Keywords follow the carriers' and Twilio's lists; they count only as the whole
message (``STOP``, ``stop.``, ``Stop!``), as Twilio matches them. A request to
stop in the person's own words is recognised from a maintained phrase list
(English and Spanish) and left for a coordinator to act on.
"""

from __future__ import annotations

import re

from clinic.text import folded
from notifications.models import InboundMessage

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES", "SUBSCRIBE"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

# Twilio's Advanced Opt-Out reports the keyword class in OptOutType.
TWILIO_OPT_OUT_TYPES = {
    "STOP": InboundMessage.Kind.OPT_OUT,
    "START": InboundMessage.Kind.OPT_IN,
    "HELP": InboundMessage.Kind.HELP,
}

OPT_OUT_PHRASES = (
    r"stop (texting|messaging|sending|contacting)",
    r"(don'?t|do not|dont) (text|message|contact|call|send)",
    r"no more (texts|messages|sms)",
    r"(unsubscribe|remove) me",
    r"take me off",
    r"leave me alone",
    r"not interested",
    r"wrong number",
    r"no (me )?(manden|envien|escriban) (mas )?(mensajes|textos)",
    r"no mas (mensajes|textos)",
    r"dejen? de (escribir|mandar|enviar|llamar)\w*",
    r"no quiero (mas )?(mensajes|textos|que me)",
    r"(quitenme|borrenme|sacame|sacarme)",
)
_OPT_OUT_RE = re.compile(r"\b(" + "|".join(OPT_OUT_PHRASES) + r")\b")


def _normalise(text: str) -> str:
    # A typographic apostrophe reads as a plain one, as the phrases are written.
    return " ".join(folded(text.replace("\u2019", "'")).split())


def keyword_of(body: str) -> str:
    """The message as a keyword would read: capitals and spaces only (``"Yes!"`` is
    ``"YES"``)."""
    return re.sub(r"[^A-Z ]", "", body.upper()).strip()


def reply_kind(body: str, *, opt_out_type: str = "") -> str:
    if opt_out_type.upper() in TWILIO_OPT_OUT_TYPES:
        return TWILIO_OPT_OUT_TYPES[opt_out_type.upper()]
    keyword = keyword_of(body)
    if keyword in OPT_OUT_KEYWORDS:
        return InboundMessage.Kind.OPT_OUT
    if keyword in OPT_IN_KEYWORDS:
        return InboundMessage.Kind.OPT_IN
    if keyword in HELP_KEYWORDS:
        return InboundMessage.Kind.HELP
    if _OPT_OUT_RE.search(_normalise(body)):
        return InboundMessage.Kind.OPT_OUT_REQUEST
    return InboundMessage.Kind.REPLY
