"""No text a stranger typed reaches a person: a message carries a first name only when
the caller says it may (a name a coordinator confirmed, on a detail the person
proved), and by default none (issue 20, item 5). Notifications decides nothing about
verification; it only refuses to greet by name unless told, and still refuses a name
that names health information or mixes scripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from notifications import services
from notifications.models import Message, MessageTemplate
from notifications.wording import MAX_SEGMENTS, SAMPLE_CONTEXT, sms_segments

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "notifications" / "templates" / "notifications" / "messages"
CONFIRMATIONS = sorted(
    {path.name.split(".", 1)[0] for path in TEMPLATES.iterdir()}
    & {
        "confirmation",
        "confirmation_by_text",
        "confirmation_by_email",
        "confirmation_crisis",
        "text_undelivered",
    }
)
TO_PEOPLE = sorted(
    {
        path.name.split(".", 1)[0]
        for path in TEMPLATES.iterdir()
        if not path.name.startswith(("staff_alert", "coordinator_reply", "help"))
    }
)
CONTEXT = {**SAMPLE_CONTEXT, "first_name": "Maria"}
del CONTEXT["alert_title"], CONTEXT["alert_text"], CONTEXT["reply_text"]


def channels(name: str) -> list[str]:
    found = []
    if (TEMPLATES / f"{name}.sms.txt").exists():
        found.append(Message.Channel.SMS)
    if (TEMPLATES / f"{name}.email.txt").exists():
        found.append(Message.Channel.EMAIL)
    return found


def texts(rendered: services.Rendered) -> list[str]:
    return [rendered.subject, rendered.body, rendered.body_html]


@pytest.mark.parametrize("name", TO_PEOPLE)
def test_a_message_greets_nobody_by_name_unless_the_caller_allows_it(name):
    for channel in channels(name):
        rendered = services.message_render(template=name, channel=channel, context=CONTEXT)

        for text in texts(rendered):
            assert "Maria" not in text


@pytest.mark.usefixtures("outside_quiet_hours")
def test_message_send_greets_nobody_by_default(django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(
            channel="sms",
            purpose="follow_up",
            recipient="+12025550143",
            template="missed_call",
            context={"first_name": "Maria"},
        )

    (sms,) = sms_outbox
    assert "Maria" not in sms.body
    assert sms.body.startswith("Hi, ")


@pytest.mark.parametrize("name", ["appointment_booked", "appointment_reminder", "missed_call"])
def test_a_name_the_caller_allows_greets_the_person(name):
    rendered = services.message_render(
        template=name, channel="sms", context=CONTEXT, greet_by_name=True
    )

    assert "Maria" in rendered.body


@pytest.mark.parametrize("name", CONFIRMATIONS)
def test_no_confirmation_can_carry_a_name_whoever_asks(name):
    """A confirmation goes to the details a form gave, which nobody verified: its
    wording has no place for a name at all."""
    for channel in channels(name):
        rendered = services.message_render(
            template=name, channel=channel, context=CONTEXT, greet_by_name=True
        )
        for text in texts(rendered):
            assert "Maria" not in text


@pytest.mark.parametrize(
    "first_name",
    [
        "K\u0435tamine",  # a Cyrillic "e": the health-word check never sees "ketamine"
        "M\u0430ria",  # a Latin name with one Cyrillic letter: a homoglyph, not a name
        "\u0405ertraline",
    ],
)
def test_an_allowed_name_that_mixes_scripts_is_still_left_out(first_name):
    rendered = services.message_render(
        template="missed_call",
        channel="sms",
        context={"first_name": first_name},
        greet_by_name=True,
    )

    assert first_name not in rendered.body
    assert rendered.body.startswith("Hi, ")


@pytest.mark.parametrize(
    "first_name", ["Zoë", "José-Luis", "Дарья", "Αλέξανδρος", "李小龍", "Nguyễn"]
)
def test_a_confirmed_name_in_any_script_greets_the_person(first_name):
    rendered = services.message_render(
        template="missed_call",
        channel="sms",
        context={"first_name": first_name},
        greet_by_name=True,
    )

    assert rendered.body.startswith(f"Hi {first_name}, ")


@pytest.mark.parametrize("name", TO_PEOPLE)
def test_every_message_reads_naturally_without_a_name(name):
    for channel in channels(name):
        rendered = services.message_render(template=name, channel=channel, context=CONTEXT)
        for text in texts(rendered):
            plain = re.sub(r"<[^>]+>", "", text)
            assert not re.search(r"\s,", plain), plain  # "Hi ," or "Reminder: ,"
            assert "Hi there" not in plain


def test_an_admins_edited_template_cannot_reintroduce_a_name_by_default():
    MessageTemplate.objects.create(
        name="confirmation", channel="sms", version=1, body="Hello {{ first_name }}, got it."
    )

    rendered = services.message_render(
        template="confirmation", channel="sms", context={"first_name": "Maria"}
    )

    assert "Maria" not in rendered.body


@pytest.mark.parametrize(
    "first_name",
    [
        "Zoë",
        "José-Luis",
        "Дарья",
        "Αλέξανδρος",
        "李小龍",
        "Nguyễn",
        "Αλεξάνδρα-Παναγιώτα Ελευθερία",
    ],
)
@pytest.mark.parametrize(
    "name", [name for name in TO_PEOPLE if Message.Channel.SMS in channels(name)]
)
def test_a_confirmed_name_in_any_script_keeps_every_text_within_its_segment_cap(name, first_name):
    rendered = services.message_render(
        template=name,
        channel="sms",
        context=CONTEXT | {"first_name": first_name},
        greet_by_name=True,
    )

    assert sms_segments(rendered.body)[1] <= MAX_SEGMENTS.get(name, 3), rendered.body
