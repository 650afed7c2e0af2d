from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from notifications import services
from notifications.admin import MessageTemplateForm
from notifications.models import MessageTemplate
from notifications.services import messages
from notifications.wording import sms_segments, template_problems, wording_problems

TEMPLATES = Path(settings.BASE_DIR) / "notifications" / "templates" / "notifications" / "messages"


def shipped_templates():
    for path in sorted(TEMPLATES.iterdir()):
        name, kind = path.name.split(".", 1)
        yield pytest.param(path, name, kind, id=path.name)


@pytest.mark.parametrize(("path", "name", "kind"), list(shipped_templates()))
def test_every_template_shipped_in_code_passes_the_checker(path, name, kind):
    channel = "sms" if kind == "sms.txt" else "email"
    field = {"subject.txt": "subject", "email.html": "body_html"}.get(kind, "body")
    assert template_problems(name=name, channel=channel, **{field: path.read_text()}) == {}


@pytest.mark.parametrize(
    "text",
    [
        "Your ketamine appointment is confirmed",
        "About your Depression screening",
        "We got your request about antidepressants",
        "Sobre su tratamiento",
        "Your therapy session",
        "We reviewed your SSRIs",
    ],
)
def test_health_words_are_found(text):
    assert wording_problems(text)


@pytest.mark.parametrize(
    "text",
    [
        "Hi Maria, a care coordinator will call you soon.",
        "Reply STOP to opt out, HELP for help.",
        "Your consultation is confirmed for Monday.",
        "Thank you for reaching out.",
        "{{ first_name }}, we will call you {{ callback_window }}.",
    ],
)
def test_neutral_wording_passes(text):
    assert wording_problems(text) == []


def test_an_article_title_is_refused_when_given():
    assert wording_problems(
        "Read The Science Behind Antidepressants",
        extra_phrases=("The Science Behind Antidepressants",),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # extension characters cost two septets
        ("€" * 81, ("GSM-7", 2)),
        ("é" * 160, ("GSM-7", 1)),
        ("ó" * 70, ("UCS-2", 1)),  # not in GSM-7
        ("ó" * 71, ("UCS-2", 2)),
        ("🙂" * 35, ("UCS-2", 1)),  # two UTF-16 units each
        ("🙂" * 36, ("UCS-2", 2)),
    ],
)
def test_sms_segments_are_counted_by_encoding(text, expected):
    assert sms_segments(text) == expected


@pytest.mark.django_db
def test_the_confirmation_fits_in_two_segments_with_a_long_name():
    rendered = services.message_render(
        template="confirmation",
        channel="sms",
        context={
            "first_name": "Alexandria-Catherine",
            "callback_window": "on Wednesday by 10:05 AM EST",
        },
    )
    assert sms_segments(rendered.body)[1] <= 2


def test_a_template_naming_a_drug_is_refused_in_admin(db):
    form = MessageTemplateForm(
        data={
            "name": "confirmation",
            "channel": "sms",
            "body": "Hi {{ first_name }}, about ketamine",
            "is_active": True,
        }
    )
    assert not form.is_valid()
    assert "ketamine" in form.errors["body"][0]


def test_a_template_using_an_unknown_name_is_refused(db):
    form = MessageTemplateForm(
        data={
            "name": "confirmation",
            "channel": "sms",
            "body": "Hi {{ lead.message }}",
            "is_active": True,
        }
    )
    assert not form.is_valid()
    assert "Unknown names: lead" in form.errors["body"][0]


def test_an_sms_too_long_is_refused(db):
    form = MessageTemplateForm(
        data={
            "name": "confirmation",
            "channel": "sms",
            "body": "Hello there. " * 40,
            "is_active": True,
        }
    )
    assert not form.is_valid()
    assert "segments" in form.errors["body"][0]


@pytest.mark.django_db
def test_the_newest_active_version_edited_in_admin_is_used():
    MessageTemplate.objects.create(
        name="confirmation", channel="sms", version=1, body="Old {{ first_name }}"
    )
    MessageTemplate.objects.create(
        name="confirmation",
        channel="sms",
        version=2,
        body="Hello {{ first_name }} from {{ clinic_name }}",
    )
    MessageTemplate.objects.create(
        name="confirmation", channel="sms", version=3, body="Draft", is_active=False
    )

    rendered = services.message_render(
        template="confirmation", channel="sms", context={"first_name": "O'Neil"}, greet_by_name=True
    )

    assert rendered.body == "Hello O'Neil from Sterling Institute"
    assert rendered.version == 2


@pytest.mark.django_db
def test_edited_templates_are_read_once_and_a_saved_version_is_used_at_once(
    django_assert_num_queries, monkeypatch
):
    def render() -> services.Rendered:
        return services.message_render(template="confirmation", channel="sms", context={})

    assert render().version is None  # the default shipped in code
    with django_assert_num_queries(0):
        render()
        services.message_render(template="confirmation", channel="email", context={})

    MessageTemplate.objects.create(
        name="confirmation", channel="sms", version=1, body="Edited {{ clinic_name }}"
    )
    assert render().version == 1  # the admin's save: this process reads again

    # Another process's edit (no signal here) arrives when the cache runs out.
    MessageTemplate.objects.filter(version=1).update(is_active=False)
    assert render().version == 1
    later = messages.time.monotonic() + settings.MESSAGE_TEMPLATE_CACHE_SECONDS + 1
    monkeypatch.setattr(messages.time, "monotonic", lambda: later)
    assert render().version is None


@pytest.mark.django_db
def test_a_discreet_message_does_not_name_the_clinic():
    rendered = services.message_render(
        template="confirmation",
        channel="sms",
        context={"first_name": "Maria", "callback_window": "soon"},
        discreet=True,
    )
    assert settings.CLINIC_NAME not in rendered.body
    assert settings.DISCREET_SENDER_NAME in rendered.body
