"""What a message may say, and how long an SMS is.

A message may reach a shared phone or a work inbox, so no message names a
condition, a drug, a treatment or an article title. ``wording_problems`` checks
a text against a maintained word list; every template is checked on save (admin)
and by a test over all templates shipped in code.
"""

from __future__ import annotations

import re

from django.template import Context, Template, TemplateSyntaxError
from django.template.base import VariableNode

from clinic.text import folded

# The only names a message template may use: nothing about health, no free text.
ALLOWED_CONTEXT = frozenset(
    {
        "first_name",
        "clinic_name",
        "clinic_phone",
        "callback_window",
        # When a missed call will be tried again, in the person's zone.
        "next_try",
        "appointment_time",
        # How the consultation takes place ("by video"), and where, in a sentence.
        "appointment_modality",
        "appointment_place",
        "manage_url",
        "alert_title",
        "alert_text",
        "link",
        # A coordinator's own words, checked by wording_problems before sending.
        "reply_text",
        # The code a member of staff types back to confirm their own phone.
        "verification_code",
    }
)

# Maintained list: conditions, drugs and drug classes, treatments, and words that
# only a health service would use. Matched as whole words, case-insensitively,
# with accents removed; stems end in "*" (e.g. "antidepress*").
HEALTH_WORDS = frozenset(
    {
        # conditions
        "depression",
        "depressed",
        "depressive",
        "anxiety",
        "anxious",
        "panic",
        "ptsd",
        "trauma",
        "traumatic",
        "ocd",
        "bipolar",
        "schizo*",
        "psychosis",
        "psychotic",
        "adhd",
        "addict*",
        "alcohol*",
        "substance",
        "overdose",
        "suicid*",
        "self-harm",
        "eating disorder",
        "anorexia",
        "bulimia",
        "pmdd",
        "dysphoric",
        "insomnia",
        "mental",
        "psychiatr*",
        "disorder",
        "diagnos*",
        "illness",
        "mood",
        # drugs and drug classes
        "antidepress*",
        "ssri*",
        "snri*",
        "ketamine",
        "esketamine",
        "spravato",
        "fluoxetine",
        "prozac",
        "sertraline",
        "zoloft",
        "lexapro",
        "escitalopram",
        "bupropion",
        "wellbutrin",
        "lithium",
        "xanax",
        "benzodiazepine*",
        "medication*",
        "prescription*",
        "drug*",
        "dose",
        "dosage",
        # treatments
        "therapy",
        "therapies",
        "therapist",
        "tms",
        "ect",
        "electroconvulsive",
        "infusion*",
        "detox*",
        "rehab*",
        "treatment*",
        "counsel*",
        "psychotherap*",
        "psycholog*",
        "clinical",
        "diagnosis",
        "symptom*",
        "patient",
        # Spanish
        "depresion",
        "ansiedad",
        "terapia",
        "tratamiento*",
        "medicamento*",
        "psiquiatr*",
        "trastorno*",
        "suicidio",
    }
)


def _pattern(word: str) -> str:
    if word.endswith("*"):
        return rf"\b{re.escape(word[:-1])}\w*"
    return rf"\b{re.escape(word)}\b"


_HEALTH_RE = re.compile("|".join(_pattern(word) for word in sorted(HEALTH_WORDS)))
# Template tags and variables are not wording; only the literal text is checked.
_TEMPLATE_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_HTML_TAG = re.compile(r"<[^>]+>")


def wording_problems(text: str, *, extra_phrases: tuple[str, ...] = ()) -> list[str]:
    """Health words (and ``extra_phrases``, e.g. article titles) found in ``text``."""
    literal = folded(_HTML_TAG.sub(" ", _TEMPLATE_SYNTAX.sub(" ", text)))
    found = sorted({match.group(0) for match in _HEALTH_RE.finditer(literal)})
    found += [phrase for phrase in extra_phrases if folded(phrase) in literal]
    return found


# GSM 03.38: the basic set costs one septet, the extension set two.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[str, int]:
    """The encoding an SMS needs (``"GSM-7"`` or ``"UCS-2"``) and how many segments it takes."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        septets = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        return "GSM-7", 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


# Long but realistic values, so length checks see the worst case.
SAMPLE_CONTEXT = {
    "first_name": "Alexandria",
    "clinic_name": "Sterling Institute",
    "clinic_phone": "+14753292686",
    "callback_window": "tomorrow by 10:05 AM EST",
    "next_try": "on Wednesday at about 10:30 AM EST",
    "appointment_time": "Monday, December 7 at 10:30 AM EST",
    "appointment_modality": "in person",
    "appointment_place": "In person at Sterling Institute, 1250 Chapel Street, New Haven.",
    "manage_url": "https://clinic.example/r/abcdefghijklmnopqrstuvwxyz0123456789/",
    "alert_title": "Alert",
    "alert_text": "Details",
    "link": "https://clinic.example/console/",
    "reply_text": "Hi, this is Sam from the clinic. Is now a good time to call?",
    "verification_code": "123456",
}
# Confirmations must fit in two segments; other texts in three.
# Confirmations go to everyone who asks: kept short (every variant). So are the crisis
# wordings of follow-ups: a person in crisis reads them on a phone, 988 and 911 first.
MAX_SEGMENTS = {
    "confirmation": 2,
    "confirmation_by_text": 2,
    "confirmation_by_email": 2,
    "confirmation_crisis": 2,
    # The one "reply YES to get texts": one segment, nothing to skim past.
    "sms_consent_invite": 1,
    # The same to a person in crisis, with the 988 and 911 lines every message to them has.
    "sms_consent_invite_crisis": 2,
    "missed_call_crisis": 2,
    "unreachable_crisis": 2,
    "appointment_booked_crisis": 2,
    "appointment_reminder_crisis": 2,
    "appointment_cancelled_crisis": 2,
    "appointment_moved_crisis": 2,
    "waitlist_offer_crisis": 2,
    "waitlist_taken_crisis": 2,
}


def template_problems(
    *, name: str, channel: str, subject: str = "", body: str = "", body_html: str = ""
) -> dict[str, list[str]]:
    """Why a message template may not be used, by field: health words, syntax
    errors, names outside :data:`ALLOWED_CONTEXT`, or an SMS too long."""
    problems: dict[str, list[str]] = {}
    for field, source in (("subject", subject), ("body", body), ("body_html", body_html)):
        found = wording_problems(source or "")
        if found:
            problems.setdefault(field, []).append(f"Names health information: {', '.join(found)}.")
        try:
            template = Template(source or "")
        except TemplateSyntaxError as error:
            problems.setdefault(field, []).append(f"Template error: {error}")
            continue
        names = {
            str(node.filter_expression.var).split(".")[0]
            for node in template.nodelist.get_nodes_by_type(VariableNode)
        }
        unknown = names - ALLOWED_CONTEXT
        if unknown:
            problems.setdefault(field, []).append(f"Unknown names: {', '.join(sorted(unknown))}.")
    if channel == "sms" and body and "body" not in problems:
        rendered = Template(body).render(Context(SAMPLE_CONTEXT, autoescape=False)).strip()
        _encoding, segments = sms_segments(rendered)
        limit = MAX_SEGMENTS.get(name, 3)
        if segments > limit:
            problems.setdefault("body", []).append(
                f"Takes {segments} SMS segments; at most {limit} allowed."
            )
    return problems
