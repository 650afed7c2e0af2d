"""Every message to a person in crisis carries 988 and 911 and never says "soon": each
template a person can get has a crisis wording, within the SMS caps and the wording
check, and it is the one sent to a lead who made a crisis submission."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template

from notifications.models import Message
from notifications.wording import SAMPLE_CONTEXT, sms_segments, template_problems
from scheduling.services import lead_sms_reply
from scheduling.services.outreach import CRISIS_VARIANTS, lead_message
from scheduling.services.undelivered import confirmation_fallback_send
from tests.factories import submit_lead

TEMPLATES = Path(settings.BASE_DIR) / "notifications" / "templates" / "notifications" / "messages"
# Not to a person (staff), or already crisis-worded for everyone (HELP's answer), or the
# confirmations, whose crisis wording is confirmation_crisis.
NOT_FOR_A_PERSON_IN_CRISIS = {"staff_alert", "staff_phone_code", "help"}
CRISIS_WORDS = "I want to end my life"


def _files() -> dict[str, set[str]]:
    """Template name -> its kinds (sms.txt, email.txt, email.html, subject.txt)."""
    found: dict[str, set[str]] = {}
    for path in TEMPLATES.iterdir():
        name, kind = path.name.split(".", 1)
        found.setdefault(name, set()).add(kind)
    return found


def _person_templates() -> list[str]:
    return sorted(
        name
        for name in _files()
        if name not in NOT_FOR_A_PERSON_IN_CRISIS
        and not name.endswith("_crisis")
        and not name.startswith("confirmation")
    )


def _crisis_templates() -> list[str]:
    return sorted(name for name in _files() if name.endswith("_crisis"))


@pytest.mark.parametrize("name", _person_templates())
def test_every_template_a_person_gets_has_a_crisis_wording_on_each_channel(name):
    files = _files()
    assert f"{name}_crisis" in files, f"{name} has no crisis wording"
    kinds = files[name] - {"subject.txt"}
    assert kinds <= files[f"{name}_crisis"]


@pytest.mark.parametrize("name", [*_crisis_templates(), "help"])
def test_a_crisis_wording_carries_988_and_911_and_never_says_soon(name):
    for kind in _files()[name] - {"subject.txt"}:
        source = (TEMPLATES / f"{name}.{kind}").read_text()
        rendered = Template(source).render(Context(SAMPLE_CONTEXT))
        assert "988" in rendered and "911" in rendered, f"{name}.{kind}"
        assert "soon" not in rendered.lower(), f"{name}.{kind}"


@pytest.mark.parametrize("name", [n for n in _crisis_templates() if "sms.txt" in _files()[n]])
def test_a_crisis_text_passes_the_wording_check_in_two_segments(name):
    source = (TEMPLATES / f"{name}.sms.txt").read_text()
    assert template_problems(name=name, channel="sms", body=source) == {}
    rendered = Template(source).render(Context(SAMPLE_CONTEXT, autoescape=False)).strip()
    limit = 3 if name == "coordinator_reply_crisis" else 2  # the coordinator's own words
    assert sms_segments(rendered)[1] <= limit


def test_a_coordinators_longest_text_to_a_person_in_crisis_fits_three_segments():
    source = (TEMPLATES / "coordinator_reply_crisis.sms.txt").read_text()
    context = Context({"reply_text": "x" * 320}, autoescape=False)
    assert sms_segments(Template(source).render(context).strip()) == ("GSM-7", 3)


def test_every_followup_with_a_crisis_wording_is_listed():
    assert {name.removesuffix("_crisis") for name in _crisis_templates()} - {
        "confirmation",
        "coordinator_reply",
        "sms_consent_invite",
        "text_undelivered",
    } == CRISIS_VARIANTS


@pytest.mark.django_db
@pytest.mark.parametrize("template", sorted(CRISIS_VARIANTS))
def test_a_lead_in_crisis_gets_the_crisis_wording_and_others_the_usual(
    template, route, settings, django_capture_on_commit_callbacks
):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "23:59", "00:00"
    context = {
        "appointment_time": "Monday at 10:30 AM",
        "manage_url": "https://clinic.example/a/x/",
        "clinic_phone": settings.CLINIC_PHONE,
    }
    crisis = route(submit_lead(message=CRISIS_WORDS)).lead
    calm = route(submit_lead(message="Evenings please")).lead

    with django_capture_on_commit_callbacks(execute=True):
        for lead in (crisis, calm):
            lead_message(
                lead=lead,
                purpose="follow_up",
                template=template,
                context=context,
                key=f"t:{lead.pk}",
                sms="sms.txt" in _files()[template],  # the routine "unreachable" is email only
                email="email.txt"
                in _files()[template],  # booking links and waitlist offers are texts only
            )

    to_crisis = Message.objects.filter(correlation=f"lead:{crisis.pk}", purpose="follow_up")
    to_calm = Message.objects.filter(correlation=f"lead:{calm.pk}", purpose="follow_up")
    assert {m.template for m in to_crisis} == {f"{template}_crisis"}
    assert {m.template for m in to_calm} == {template}
    for message in to_crisis:
        assert "988" in message.body and "911" in message.body


@pytest.mark.django_db
def test_a_coordinators_text_to_a_person_in_crisis_carries_988_and_911(route, coordinator):
    callback = route(submit_lead(message=CRISIS_WORDS))

    message = lead_sms_reply(
        callback_id=callback.pk, user_id=coordinator.pk, body="Hi, this is Sam. Can I call now?"
    )

    assert message.body.startswith("Hi, this is Sam. Can I call now?")
    assert "988" in message.body and "911" in message.body


@pytest.mark.django_db
def test_the_email_after_an_undelivered_crisis_confirmation_carries_988_and_911(route):
    submission = submit_lead(message=CRISIS_WORDS)
    route(submission)
    text = Message.objects.get(channel="sms", purpose="confirmation")
    Message.objects.filter(pk=text.pk).update(status=Message.Status.FAILED, error_code="30003")

    email = confirmation_fallback_send(message_id=text.pk)

    assert email.template == "text_undelivered_crisis"
    assert "988" in email.body and "911" in email.body
