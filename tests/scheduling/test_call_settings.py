"""A member of staff's own phone for the clinic's calls (PUT /api/v1/me/phone/, then
POST /api/v1/me/phone/verify/) and their availability for instant calls
(PUT /api/v1/me/availability/): codes by SMS, 10 minutes, 5 tries, hashed, compared
in constant time; a wrong code changes nothing; instant calls only with a confirmed
phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Message
from notifications.services import opt_out_record
from scheduling.models import StaffCallSettings
from scheduling.services import call_settings

pytestmark = pytest.mark.django_db

PHONE = "+12025550101"
OTHER_PHONE = "+12025550102"
PHONE_URL = "/api/v1/me/phone/"
VERIFY_URL = "/api/v1/me/phone/verify/"
AVAILABILITY_URL = "/api/v1/me/availability/"


@pytest.fixture
def staff_client(api_client, coordinator, django_capture_on_commit_callbacks):
    """The coordinator's API client; every request runs its after-commit work (the
    code's SMS delivery) as the request would."""
    api_client.force_authenticate(coordinator)
    for method in ("put", "post"):
        send = getattr(api_client, method)

        def sent(*args, _send=send, **kwargs):
            kwargs.setdefault("format", "json")
            with django_capture_on_commit_callbacks(execute=True):
                return _send(*args, **kwargs)

        setattr(api_client, method, sent)
    return api_client


def texted_code(sms_outbox, phone: str = PHONE) -> str:
    """The code in the last text to ``phone``."""
    (body,) = [sms.body for sms in sms_outbox if sms.to == phone][-1:]
    return re.search(r"\b(\d{6})\b", body).group(1)


def row(user) -> StaffCallSettings:
    return StaffCallSettings.objects.get(user=user)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# Setting the phone -------------------------------------------------------------------


def test_a_phone_is_stored_unverified_and_texted_a_code_kept_only_as_a_hash(
    staff_client, coordinator, sms_outbox
):
    response = staff_client.put(PHONE_URL, {"phone": "(202) 555-0101"})

    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == PHONE
    assert (body["verified"], body["available"]) == (False, False)
    assert body["code_expires_at"] is not None
    code = texted_code(sms_outbox)
    settings_row = row(coordinator)
    assert settings_row.phone == PHONE and settings_row.phone_hash
    assert settings_row.verified_at is None
    assert code not in settings_row.code_hash and len(settings_row.code_hash) == 64
    message = Message.objects.get(recipient=PHONE)
    assert message.purpose == Message.Purpose.STAFF_CODE
    assert message.correlation == f"staff:{coordinator.pk}"
    assert message.give_up_at == settings_row.code_expires_at


def test_the_code_goes_out_at_once_even_in_the_middle_of_the_night(staff_client, sms_outbox):
    # 03:00 in Washington: quiet hours hold follow-ups, never a code asked for now.
    with time_machine.travel("2026-03-04 08:00:00+00:00", tick=False):
        staff_client.put(PHONE_URL, {"phone": PHONE})

    assert len(sms_outbox) == 1
    assert Message.objects.get(recipient=PHONE).send_after is None


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("12345", "Enter a valid phone number."),
        ("+442079460958", "Enter a number in a country the clinic texts."),
        ("+14753292686", "That is one of the clinic's own numbers: enter your own."),
    ],
)
def test_an_unusable_phone_is_refused_with_a_field_error_and_nothing_stored(
    staff_client, coordinator, sms_outbox, phone, message
):
    response = staff_client.put(PHONE_URL, {"phone": phone})

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": message,
        "fields": {"phone": [message]},
    }
    assert not StaffCallSettings.objects.filter(user=coordinator, phone__gt="").exists()
    assert sms_outbox == []


def test_a_missing_or_non_text_phone_is_a_field_error(staff_client):
    for payload in ({}, {"phone": ["+12025550101"]}, {"phone": "x" * 41}):
        response = staff_client.put(PHONE_URL, payload)
        assert response.status_code == 400
        assert set(response.json()["fields"]) == {"phone"}


def test_a_number_that_opted_out_of_the_clinics_texts_is_refused(staff_client, sms_outbox):
    opt_out_record(phone=PHONE, source="test")

    response = staff_client.put(PHONE_URL, {"phone": PHONE})

    assert response.status_code == 400
    assert "START" in response.json()["fields"]["phone"][0]
    assert sms_outbox == []


def test_giving_the_confirmed_phone_again_changes_nothing_and_sends_nothing(
    staff_client, coordinator, sms_outbox
):
    staff_client.put(PHONE_URL, {"phone": PHONE})
    staff_client.post(VERIFY_URL, {"code": texted_code(sms_outbox)})
    staff_client.put(AVAILABILITY_URL, {"available": True})

    response = staff_client.put(PHONE_URL, {"phone": PHONE})

    assert response.status_code == 200
    assert (response.json()["verified"], response.json()["available"]) == (True, True)
    assert len(sms_outbox) == 1


def test_a_new_phone_is_unverified_and_unavailable_until_confirmed(
    staff_client, coordinator, sms_outbox
):
    staff_client.put(PHONE_URL, {"phone": PHONE})
    staff_client.post(VERIFY_URL, {"code": texted_code(sms_outbox)})
    staff_client.put(AVAILABILITY_URL, {"available": True})

    staff_client.put(PHONE_URL, {"phone": OTHER_PHONE})

    settings_row = row(coordinator)
    assert (settings_row.phone, settings_row.verified_at, settings_row.available) == (
        OTHER_PHONE,
        None,
        False,
    )
    assert [sms.to for sms in sms_outbox] == [PHONE, OTHER_PHONE]


def test_a_new_code_replaces_the_old_one_but_not_within_seconds(staff_client, sms_outbox):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        staff_client.put(PHONE_URL, {"phone": PHONE})
        first = texted_code(sms_outbox)
        too_soon = staff_client.put(PHONE_URL, {"phone": PHONE})
    assert too_soon.status_code == 429
    assert too_soon.json()["code"] == "code_recently_sent"
    assert len(sms_outbox) == 1

    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        staff_client.put(PHONE_URL, {"phone": PHONE})
        second = texted_code(sms_outbox)
        if second != first:  # one in a million, the same code again
            old = staff_client.post(VERIFY_URL, {"code": first})
            assert old.json()["code"] == "code_wrong"
        assert staff_client.post(VERIFY_URL, {"code": second}).status_code == 200


def test_a_member_of_staff_gets_at_most_five_codes_an_hour(staff_client, coordinator, sms_outbox):
    start = timezone.now()
    numbers = [f"+120255501{index:02d}" for index in range(10, 16)]
    answers = []
    for index, number in enumerate(numbers):
        with time_machine.travel(start + timedelta(minutes=index), tick=False):
            answers.append(staff_client.put(PHONE_URL, {"phone": number}))

    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    assert answers[-1].json()["code"] == "code_limit"
    assert [sms.to for sms in sms_outbox] == numbers[:5]
    assert row(coordinator).phone == numbers[4]


# Verifying ---------------------------------------------------------------------------


def test_the_right_code_confirms_the_phone(staff_client, coordinator, sms_outbox):
    staff_client.put(PHONE_URL, {"phone": PHONE})

    response = staff_client.post(VERIFY_URL, {"code": f" {texted_code(sms_outbox)} "})

    assert response.status_code == 200
    assert response.json()["verified"] is True
    assert response.json()["code_expires_at"] is None
    settings_row = row(coordinator)
    assert settings_row.verified_at is not None
    assert (settings_row.code_hash, settings_row.code_tries) == ("", 0)


def test_a_wrong_code_changes_nothing_but_the_count_of_tries(staff_client, coordinator, sms_outbox):
    staff_client.put(PHONE_URL, {"phone": PHONE})
    before = row(coordinator)

    response = staff_client.post(VERIFY_URL, {"code": wrong(texted_code(sms_outbox))})

    assert response.status_code == 400
    assert response.json() == {
        "code": "code_wrong",
        "message": "That is not the code: 4 tries left.",
        "fields": {"code": ["That is not the code: 4 tries left."]},
    }
    after = row(coordinator)
    assert after.code_tries == 1
    assert (after.phone, after.verified_at, after.available, after.code_hash) == (
        before.phone,
        None,
        False,
        before.code_hash,
    )


def test_five_wrong_tries_lock_the_code_even_against_the_right_one(
    staff_client, coordinator, sms_outbox
):
    staff_client.put(PHONE_URL, {"phone": PHONE})
    code = texted_code(sms_outbox)
    answers = [staff_client.post(VERIFY_URL, {"code": wrong(code)}) for _ in range(5)]

    assert [a.json()["code"] for a in answers] == ["code_wrong"] * 5
    assert "last try" in answers[-1].json()["message"]
    locked = staff_client.post(VERIFY_URL, {"code": code})
    assert (locked.status_code, locked.json()["code"]) == (400, "code_locked")
    assert row(coordinator).verified_at is None
    assert row(coordinator).code_tries == 5


def test_a_code_works_for_ten_minutes_only(staff_client, coordinator, sms_outbox):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        staff_client.put(PHONE_URL, {"phone": PHONE})
    code = texted_code(sms_outbox)

    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        expired = staff_client.post(VERIFY_URL, {"code": code})
    assert (expired.status_code, expired.json()["code"]) == (400, "code_expired")
    assert row(coordinator).verified_at is None

    with time_machine.travel(start + timedelta(minutes=9, seconds=59), tick=False):
        assert staff_client.post(VERIFY_URL, {"code": code}).status_code == 200


def test_the_code_is_compared_in_constant_time(staff_client, sms_outbox, monkeypatch):
    compared = []
    real = call_settings.constant_time_compare

    def spy(left, right):
        compared.append((left, right))
        return real(left, right)

    monkeypatch.setattr(call_settings, "constant_time_compare", spy)
    staff_client.put(PHONE_URL, {"phone": PHONE})
    code = texted_code(sms_outbox)

    staff_client.post(VERIFY_URL, {"code": wrong(code)})
    staff_client.post(VERIFY_URL, {"code": code})

    # Both tries went through the constant-time comparison, of hashes, never codes.
    assert len(compared) == 2
    assert all(len(left) == len(right) == 64 for left, right in compared)
    assert all(code not in (left, right) for left, right in compared)


@pytest.mark.parametrize("typed", ["12345", "1234567", "abcdef", "١٢٣٤٥٦", ""])
def test_something_that_is_not_six_digits_is_a_field_error_and_not_a_try(
    staff_client, coordinator, sms_outbox, typed
):
    staff_client.put(PHONE_URL, {"phone": PHONE})

    response = staff_client.post(VERIFY_URL, {"code": typed})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"code"}
    assert row(coordinator).code_tries == 0


def test_verifying_without_a_code_or_twice_is_refused(staff_client, sms_outbox):
    none = staff_client.post(VERIFY_URL, {"code": "123456"})
    assert (none.status_code, none.json()["code"]) == (400, "no_code")

    staff_client.put(PHONE_URL, {"phone": PHONE})
    code = texted_code(sms_outbox)
    staff_client.post(VERIFY_URL, {"code": code})
    again = staff_client.post(VERIFY_URL, {"code": code})
    assert (again.status_code, again.json()["code"]) == (400, "already_verified")


def test_each_member_of_staff_confirms_only_their_own_phone(
    staff_client, coordinator, supervisor, sms_outbox, api_client
):
    staff_client.put(PHONE_URL, {"phone": PHONE})
    code = texted_code(sms_outbox)
    api_client.force_authenticate(supervisor)

    response = api_client.post(VERIFY_URL, {"code": code}, format="json")

    assert response.json()["code"] == "no_code"
    assert row(coordinator).verified_at is None


# Availability ------------------------------------------------------------------------


def test_availability_needs_a_confirmed_phone(staff_client, coordinator, sms_outbox):
    refused = staff_client.put(AVAILABILITY_URL, {"available": True})
    assert refused.status_code == 400
    assert refused.json()["code"] == "phone_not_verified"
    assert set(refused.json()["fields"]) == {"available"}

    staff_client.put(PHONE_URL, {"phone": PHONE})
    unconfirmed = staff_client.put(AVAILABILITY_URL, {"available": True})
    assert unconfirmed.json()["code"] == "phone_not_verified"
    assert row(coordinator).available is False


def test_availability_is_taken_and_given_up_and_keeps_its_start_when_repeated(
    staff_client, coordinator, sms_outbox
):
    staff_client.put(PHONE_URL, {"phone": PHONE})
    staff_client.post(VERIFY_URL, {"code": texted_code(sms_outbox)})

    on = staff_client.put(AVAILABILITY_URL, {"available": True})
    since = row(coordinator).available_since
    again = staff_client.put(AVAILABILITY_URL, {"available": True})
    off = staff_client.put(AVAILABILITY_URL, {"available": False})

    assert (on.status_code, on.json()["available"]) == (200, True)
    assert since is not None and again.json()["available_since"] is not None
    assert row(coordinator).available_since is None and off.json()["available"] is False
    assert staff_client.put(AVAILABILITY_URL, {"available": "perhaps"}).status_code == 400
    assert staff_client.put(AVAILABILITY_URL, {}).status_code == 400


def test_the_database_refuses_availability_without_a_confirmed_phone(coordinator):
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffCallSettings.objects.create(user=coordinator, phone=PHONE, available=True)


def test_get_shows_ones_own_settings(staff_client, sms_outbox):
    assert staff_client.get(PHONE_URL).json() == {
        "phone": "",
        "verified": False,
        "verified_at": None,
        "available": False,
        "available_since": None,
        "code_expires_at": None,
    }
    staff_client.put(PHONE_URL, {"phone": PHONE})
    assert staff_client.get(PHONE_URL).json()["phone"] == PHONE


@pytest.mark.parametrize("url", [PHONE_URL, VERIFY_URL, AVAILABILITY_URL])
def test_marketing_and_strangers_cannot_set_a_phone(api_client, marketer, url):
    assert api_client.put(url, {"phone": PHONE}, format="json").status_code in (401, 403)
    api_client.force_authenticate(marketer)
    assert api_client.put(url, {"phone": PHONE}, format="json").status_code == 403
    assert not StaffCallSettings.objects.exists()
