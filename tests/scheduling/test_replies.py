from __future__ import annotations

import pytest

from notifications.services import inbound_receive
from scheduling.models import Callback
from tests.factories import submit_lead

pytestmark = pytest.mark.django_db


def test_a_text_from_the_lead_marks_their_callback_patient_replied(
    route, django_capture_on_commit_callbacks
):
    callback = route(submit_lead(phone="+12025550160"))

    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM1", sender="+12025550160", body="Can you call at 6?")

    callback.refresh_from_db()
    assert callback.patient_replied is True


def test_a_request_to_stop_in_own_words_reaches_the_coordinator(
    route, django_capture_on_commit_callbacks
):
    callback = route(submit_lead(phone="+12025550161"))

    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM2", sender="+12025550161", body="please stop texting me")

    callback.refresh_from_db()
    assert callback.patient_replied is True


def test_a_stop_keyword_does_not_move_the_callback(route, django_capture_on_commit_callbacks):
    callback = route(submit_lead(phone="+12025550162"))

    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM3", sender="+12025550162", body="STOP")

    assert Callback.objects.get(pk=callback.pk).patient_replied is False


def test_a_text_from_a_stranger_marks_nothing(route, django_capture_on_commit_callbacks):
    route(submit_lead(phone="+12025550163"))

    with django_capture_on_commit_callbacks(execute=True):
        inbound_receive(provider_id="SM4", sender="+12025550999", body="hello?")

    assert not Callback.objects.filter(patient_replied=True).exists()
