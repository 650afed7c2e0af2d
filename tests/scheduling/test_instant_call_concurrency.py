"""Coordinators pressing 1 on the same instant call round in the same second, on
PostgreSQL with real connections (one per thread, as in test_claim_concurrency.py):
exactly one bridge and one claim; everyone else hears "someone else took it" and is
ended. And two new requests at once never ring one phone twice."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from clinic.crypto import phone_hash
from scheduling.models import Call, Callback, InstantCallRound, StaffCallSettings
from scheduling.services import instant_calls
from tests.factories import UserFactory, submit_lead

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "https://clinic.example"
PERSON = "+12025550143"
CLINIC_ID = "+14753292686"


@pytest.fixture(autouse=True)
def _phone(settings, fake_twilio):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, there is no race to test")
    # No opening hours in the database: the clinic is always open.
    settings.CLINIC_HOLIDAYS_COUNTRY = ""
    settings.PUBLIC_BASE_URL = BASE
    settings.CLINIC_CALLER_ID = CLINIC_ID
    settings.CALL_RECORDING = False


def available_coordinators(count: int) -> list:
    users = []
    for index in range(count):
        user = UserFactory(username=f"racer-{index}")
        user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
        phone = f"+120255502{index:02d}"
        StaffCallSettings.objects.create(
            user=user,
            phone=phone,
            phone_hash=phone_hash(phone),
            verified_at=timezone.now(),
            available=True,
            available_since=timezone.now(),
        )
        users.append(user)
    return users


def run_at_once(work, items) -> tuple[list, list[BaseException]]:
    """``work(item)`` for every item, each in a thread of its own with its own database
    connection, all released at the same moment."""
    start = threading.Barrier(len(items))
    results: list = []
    errors: list[BaseException] = []

    def run(item) -> None:
        try:
            start.wait()
            results.append(work(item))
        except BaseException as error:  # reported by the caller
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


@pytest.mark.parametrize("pressing", [2, 6])
def test_coordinators_pressing_1_in_the_same_second_give_one_bridge_and_one_claim(
    fake_twilio, pressing
):
    coordinators = available_coordinators(pressing)
    # Committed for real: the worker's part runs inline and rings every phone.
    submission = submit_lead(first_name="Dana", phone=PERSON)
    instant_round = InstantCallRound.objects.get(submission=submission)
    sids = {call.to: call.sid for call in fake_twilio.voice.calls}
    assert len(sids) == pressing
    drivers = []
    for sid in sids.values():
        driver = fake_twilio.voice.drive(sid, client=Client())
        driver.ring()
        driver.answer()
        drivers.append(driver)

    answers, errors = run_at_once(lambda driver: (driver.sid, driver.press("1")), drivers)

    assert errors == []
    bridged = [(sid, answer) for sid, answer in answers if answer.find("Dial") is not None]
    assert len(bridged) == 1
    winner_sid, bridge = bridged[0]
    assert bridge.find("Dial/Number").text == PERSON
    for sid, answer in answers:
        if sid != winner_sid:
            assert [say.text for say in answer.iter("Say")] == ["Someone else took it. Goodbye."]
            assert PERSON not in ET.tostring(answer).decode()
    winner = Call.objects.get(legs__provider_id=winner_sid)
    callback = Callback.objects.get()
    assert (callback.status, callback.claimed_by_id) == (
        Callback.Status.CLAIMED,
        winner.coordinator_id,
    )
    assert Callback.objects.filter(status=Callback.Status.CLAIMED).count() == 1
    instant_round.refresh_from_db()
    assert (instant_round.status, instant_round.taken_by_id) == ("taken", winner.coordinator_id)
    # Every other call is over, here and at the provider.
    losers = Call.objects.exclude(pk=winner.pk)
    assert losers.count() == len(coordinators) - 1
    assert not losers.filter(ended_at__isnull=True).exists()
    ended = {
        request.path.rsplit("/", 1)[-1].removesuffix(".json")
        for request in fake_twilio.voice.updates
        if request.form.get("Status") == "completed"
    }
    assert ended == set(sids.values()) - {winner_sid}
    assert fake_twilio.voice.call(winner_sid).status == "in-progress"


def test_two_new_requests_at_once_never_ring_one_phone_twice(fake_twilio):
    # Four requests queued while nobody was available; then three coordinators are,
    # and the four requests ring at the same moment, each from its own thread.
    submissions = [
        submit_lead(first_name="Dana", phone=f"+1202555031{index}") for index in range(4)
    ]
    assert fake_twilio.voice.calls == []
    coordinators = available_coordinators(3)

    _rounds, errors = run_at_once(
        lambda submission: instant_calls.instant_call_ring(submission_id=submission.pk),
        submissions,
    )

    assert errors == []
    # Each phone rang once, for one request; everyone was rung for some request.
    rung = [call.to for call in fake_twilio.voice.calls]
    assert len(rung) == len(set(rung)) == len(coordinators)
    live = Call.objects.filter(ended_at__isnull=True)
    assert sorted(live.values_list("coordinator_id", flat=True)) == sorted(
        user.pk for user in coordinators
    )
