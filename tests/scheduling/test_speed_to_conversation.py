"""Speed to lead measured to a conversation: what stops the clock on the lead, in
which order events may arrive, and the figures the board and the metrics read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from intake.models import Lead
from intake.services import lead_attempt_record, lead_conversation_record
from notifications.models import InboundMessage, Message
from notifications.services import inbound_receive
from scheduling.models import Callback, CallLeg
from scheduling.selectors import speed as selectors_speed
from scheduling.services import attempt_log, callback_claim_next, calls, lead_sms_reply
from tests.factories import UserFactory, submit_lead
from tests.signin import verified_login

pytestmark = pytest.mark.django_db

PERSON = "+12025550143"


@pytest.fixture
def claimed(route, coordinator):
    def make(**lead_values):
        callback = route(submit_lead(**{"phone": PERSON, **lead_values}))
        claimed = callback_claim_next(user_id=coordinator.pk)
        assert claimed.pk == callback.pk
        return claimed

    return make


def lead_of(callback: Callback) -> Lead:
    return Lead.objects.get(pk=callback.lead_id)


def bridged_call(
    callback, user, capture, *, answered_at, seconds, answered_by="human", status="completed"
):
    """A bridged call as its status callbacks record it: the member of staff's leg
    answered and pressed 1, then the person's leg answered and ended after ``seconds``."""
    with time_machine.travel(answered_at - timedelta(seconds=15)):
        call = calls.call_create(
            callback_id=callback.pk, coordinator_id=user.pk, kind="click_to_call"
        )
    staff_sid, person_sid = f"CA{call.pk:032d}", f"CB{call.pk:032d}"
    stamp = format_datetime(answered_at)
    ended = format_datetime(answered_at + timedelta(seconds=seconds))
    with capture(execute=True):
        calls.call_provider_id_set(call_id=call.pk, provider_id=staff_sid)
        for role, sid, moment, state, extra in (
            ("coordinator", staff_sid, stamp, "in-progress", {}),
            ("person", person_sid, stamp, "ringing", {}),
            ("person", person_sid, stamp, "in-progress", {"answered_by": answered_by}),
            ("person", person_sid, ended, status, {"duration_seconds": seconds}),
            ("coordinator", staff_sid, ended, "completed", {"duration_seconds": seconds + 20}),
        ):
            calls.call_leg_status_record(
                call_id=call.pk, role=role, provider_id=sid, status=state, timestamp=moment, **extra
            )
    return call


def log(callback, user, outcome, capture, **kwargs):
    with capture(execute=True):
        return attempt_log(callback_id=callback.pk, user_id=user.pk, outcome=outcome, **kwargs)


def moment(seconds_ago: int) -> datetime:
    return (timezone.now() - timedelta(seconds=seconds_ago)).replace(microsecond=0)


# --- What stops the clock -------------------------------------------------------------


def test_a_call_of_30_seconds_answered_by_a_person_stops_the_clock(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    answered = moment(120)

    call = bridged_call(
        callback, coordinator, django_capture_on_commit_callbacks, answered_at=answered, seconds=30
    )

    lead = lead_of(callback)
    assert lead.first_conversation_at == answered
    assert lead.first_conversation_via == Lead.ConversationVia.CALL
    assert lead.first_conversation_by_id == coordinator.pk
    assert lead.first_attempt_at == answered  # the person's phone rang then
    assert call.created_at < lead.first_attempt_at


def test_a_call_of_29_seconds_is_an_attempt_but_no_conversation(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()

    answered = moment(90)
    bridged_call(
        callback, coordinator, django_capture_on_commit_callbacks, answered_at=answered, seconds=29
    )

    lead = lead_of(callback)
    assert lead.first_conversation_at is None
    assert lead.first_conversation_via == ""
    assert lead.first_attempt_at == answered


@pytest.mark.parametrize("verdict", ["machine_end_beep", "machine_start", "fax"])
def test_a_long_call_answered_by_a_machine_is_no_conversation(
    claimed, coordinator, django_capture_on_commit_callbacks, verdict
):
    callback = claimed()

    bridged_call(
        callback,
        coordinator,
        django_capture_on_commit_callbacks,
        answered_at=moment(300),
        seconds=95,
        answered_by=verdict,
    )

    assert lead_of(callback).first_conversation_at is None


def test_a_call_no_one_at_the_clinic_answered_is_no_attempt_on_the_person(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    """An instant call rang a coordinator's own phone and nobody pressed 1: the
    person's phone was never dialled."""
    callback = claimed()
    call = calls.call_create(callback_id=callback.pk, coordinator_id=coordinator.pk, kind="instant")
    with django_capture_on_commit_callbacks(execute=True):
        calls.call_leg_status_record(
            call_id=call.pk, role="coordinator", provider_id="CA" + "7" * 32, status="no-answer"
        )

    lead = lead_of(callback)
    assert lead.first_attempt_at is None
    assert lead.first_conversation_at is None


def test_an_attempt_logged_as_reached_by_hand_stops_the_clock(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()

    attempt = log(callback, coordinator, "reached", django_capture_on_commit_callbacks)

    lead = lead_of(callback)
    assert lead.first_conversation_at == attempt.created_at
    assert lead.first_conversation_via == Lead.ConversationVia.HAND_LOGGED
    assert lead.first_conversation_by_id == coordinator.pk
    assert lead.first_attempt_at == attempt.created_at


def test_a_no_answer_logged_by_hand_is_an_attempt_only(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()

    attempt = log(callback, coordinator, "no_answer", django_capture_on_commit_callbacks)

    lead = lead_of(callback)
    assert lead.first_attempt_at == attempt.created_at
    assert lead.first_conversation_at is None


def test_reached_logged_after_a_short_bridged_call_is_that_calls_outcome_not_a_conversation(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    """The person answered the bridged call for 20 s: the call's own measure decides,
    and logging its outcome as "reached" does not turn it into a conversation."""
    callback = claimed()
    bridged_call(
        callback,
        coordinator,
        django_capture_on_commit_callbacks,
        answered_at=moment(60),
        seconds=20,
    )

    log(callback, coordinator, "reached", django_capture_on_commit_callbacks)

    assert lead_of(callback).first_conversation_at is None


def deliver_staff_text(callback, user, capture, body="Hello, when suits you for a call?"):
    with capture(execute=True):
        message = lead_sms_reply(callback_id=callback.pk, user_id=user.pk, body=body)
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    return message


def person_texts(capture, body="Afternoons are best, thank you", sid="SM" + "1" * 32):
    with capture(execute=True):
        inbound = inbound_receive(provider_id=sid, sender=PERSON, body=body)
    assert inbound.kind == InboundMessage.Kind.REPLY
    return inbound


@pytest.mark.usefixtures("outside_quiet_hours")
def test_a_text_exchange_stops_the_clock_of_someone_who_chose_texts(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed(preferred_channel="sms")

    sent = deliver_staff_text(callback, coordinator, django_capture_on_commit_callbacks)
    assert lead_of(callback).first_attempt_at == sent.sent_at
    assert lead_of(callback).first_conversation_at is None  # one half only, so far

    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        inbound = person_texts(django_capture_on_commit_callbacks)

    lead = lead_of(callback)
    assert lead.first_conversation_at == inbound.received_at
    assert lead.first_conversation_via == Lead.ConversationVia.TEXT
    assert lead.first_conversation_by_id == coordinator.pk  # held the callback then


def test_the_persons_text_then_a_coordinators_reply_is_an_exchange_at_the_reply(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed(preferred_channel="sms")
    person_texts(django_capture_on_commit_callbacks)
    assert lead_of(callback).first_conversation_at is None

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        sent = deliver_staff_text(callback, coordinator, django_capture_on_commit_callbacks)

    assert lead_of(callback).first_conversation_at == sent.sent_at


@pytest.mark.usefixtures("outside_quiet_hours")
def test_a_text_exchange_does_not_count_for_someone_who_chose_a_call(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed(preferred_channel="call")
    sent = deliver_staff_text(callback, coordinator, django_capture_on_commit_callbacks)

    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        person_texts(django_capture_on_commit_callbacks)

    lead = lead_of(callback)
    assert lead.first_conversation_at is None
    assert lead.first_attempt_at == sent.sent_at  # the text was still outreach


def test_a_bridged_call_driven_through_the_fake_twilio_stops_the_clock_at_the_answer(
    claimed, coordinator, fake_twilio, client, settings, django_capture_on_commit_callbacks
):
    """The webhooks in Twilio's order, signed, from the fake's driver: the staff phone
    answers and presses 1, the person answers (a human) and talks for 95 s."""
    from tests.scheduling import test_call_webhooks as played

    settings.PUBLIC_BASE_URL = played.BASE
    settings.CLINIC_CALLER_ID = played.CLINIC_ID
    settings.DISCREET_CALLER_ID = played.DISCREET_ID
    settings.CALL_RECORDING = False
    callback = claimed()
    with django_capture_on_commit_callbacks(execute=True):
        call, sid = played.place(callback, coordinator)
        staff = fake_twilio.voice.drive(sid, client=client)
        staff.ring()
        staff.answer()
        staff.press("1")
        person = staff.dial()
        person.ring()
        person.answer(answered_by="human")
        person.complete(duration=95)
        staff.complete(duration=110)

    lead = lead_of(callback)
    person_leg = CallLeg.objects.get(call=call, role="person")
    assert lead.first_conversation_at == person_leg.answered_at
    assert lead.first_conversation_via == Lead.ConversationVia.CALL
    assert lead.first_conversation_by_id == coordinator.pk
    assert lead.first_attempt_at == person_leg.initiated_at


# --- First wins ---------------------------------------------------------------------------


def test_the_earliest_conversation_wins_whatever_order_the_events_arrive_in(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    other = UserFactory(username="second-coordinator")
    # The attempt is logged first (now); the webhooks of an earlier call come in late.
    attempt = log(callback, coordinator, "reached", django_capture_on_commit_callbacks)
    earlier = moment(600)
    bridged_call(
        callback, other, django_capture_on_commit_callbacks, answered_at=earlier, seconds=240
    )

    lead = lead_of(callback)
    assert lead.first_conversation_at == earlier
    assert lead.first_conversation_via == Lead.ConversationVia.CALL
    assert lead.first_conversation_by_id == other.pk

    # A later conversation, and a repeat of the earlier one, change nothing.
    assert not lead_conversation_record(
        lead_id=lead.pk, at=attempt.created_at, via="hand_logged", by_id=coordinator.pk
    )
    assert not lead_conversation_record(lead_id=lead.pk, at=earlier, via="call", by_id=other.pk)
    assert not lead_attempt_record(lead_id=lead.pk, at=timezone.now())
    lead.refresh_from_db()
    assert (lead.first_conversation_at, lead.first_conversation_by_id) == (earlier, other.pk)


def test_a_repeated_final_status_callback_records_nothing_new(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    answered = moment(100)
    call = bridged_call(
        callback, coordinator, django_capture_on_commit_callbacks, answered_at=answered, seconds=45
    )
    person = CallLeg.objects.get(call=call, role="person")

    with django_capture_on_commit_callbacks(execute=True):
        changed = calls.call_leg_status_record(
            call_id=call.pk,
            role="person",
            provider_id=person.provider_id,
            status="completed",
            timestamp=format_datetime(answered + timedelta(seconds=45)),
            duration_seconds=45,
        )

    assert changed is False
    assert lead_of(callback).first_conversation_at == answered


def test_an_unknown_conversation_channel_is_refused(claimed):
    callback = claimed()
    with pytest.raises(ValueError):
        lead_conversation_record(
            lead_id=callback.lead_id, at=timezone.now(), via="carrier pigeon", by_id=None
        )


def test_the_backfill_measures_calls_and_attempts_recorded_before_the_clock(
    claimed, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    answered = moment(900)
    bridged_call(
        callback, coordinator, django_capture_on_commit_callbacks, answered_at=answered, seconds=61
    )
    log(callback, coordinator, "reached", django_capture_on_commit_callbacks)
    # As the rows stood before this clock existed.
    Lead.objects.filter(pk=callback.lead_id).update(
        first_conversation_at=None,
        first_conversation_via="",
        first_conversation_by=None,
        first_attempt_at=None,
    )

    call_command("conversations_backfill")
    call_command("conversations_backfill")  # again: changes nothing

    lead = lead_of(callback)
    assert lead.first_conversation_at == answered
    assert lead.first_conversation_via == Lead.ConversationVia.CALL
    assert lead.first_attempt_at == answered


# --- The figures --------------------------------------------------------------------------

# A Friday in December (New York, UTC-5): the clinic closes at 20:00 and opens Monday 8:00.
FRIDAY_EVENING = datetime(2026, 12, 4, 21, 0, tzinfo=UTC) + timedelta(hours=5)  # 21:00 local
MONDAY_OPENING = datetime(2026, 12, 7, 8, 0, tzinfo=UTC) + timedelta(hours=5)


def test_the_wait_for_the_clinic_to_open_is_system_delay_and_the_rest_the_coordinators(
    clinic_in_new_york, weekday_hours, route, coordinator, django_capture_on_commit_callbacks
):
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        callback = route(submit_lead(phone=PERSON))
    with time_machine.travel(MONDAY_OPENING + timedelta(minutes=30), tick=False):
        assert callback_claim_next(user_id=coordinator.pk).pk == callback.pk
        log(callback, coordinator, "reached", django_capture_on_commit_callbacks)

    since, until = MONDAY_OPENING - timedelta(days=1), MONDAY_OPENING + timedelta(days=1)
    [row] = selectors_speed.speed_to_conversation(since=since, until=until)
    waited = (MONDAY_OPENING + timedelta(minutes=30) - FRIDAY_EVENING).total_seconds()
    assert row.conversations == 1
    assert row.total.median_seconds == waited
    assert row.system.median_seconds == (MONDAY_OPENING - FRIDAY_EVENING).total_seconds()
    assert row.coordinator.median_seconds == 30 * 60

    # The development default (no PostgreSQL) computes the same figures.
    opening = selectors_speed.opening_intervals(since - selectors_speed.OPENING_LOOKBACK, until)
    assert selectors_speed._rows_python(
        since=since, until=until, group="all", opening=opening
    ) == selectors_speed._rows_postgresql(since=since, until=until, group="all", opening=opening)


def test_a_request_made_while_open_has_only_the_queueing_as_system_delay(
    clinic_in_new_york, weekday_hours, route, coordinator, django_capture_on_commit_callbacks
):
    submitted = MONDAY_OPENING + timedelta(hours=2)
    with time_machine.travel(submitted, tick=False):
        callback = route(submit_lead(phone=PERSON))
    with time_machine.travel(submitted + timedelta(minutes=4), tick=False):
        callback_claim_next(user_id=coordinator.pk)
        log(callback, coordinator, "reached", django_capture_on_commit_callbacks)

    [row] = selectors_speed.speed_to_conversation(
        since=submitted, until=submitted + timedelta(hours=1)
    )
    assert row.total.median_seconds == 240
    assert row.system.median_seconds == 0  # queued in the same instant (frozen clock)
    assert row.coordinator.median_seconds == 240


def test_figures_per_coordinator_and_per_day_have_median_and_p90(
    clinic_in_new_york, route, django_capture_on_commit_callbacks
):
    ana = UserFactory(username="ana", first_name="Ana", last_name="Lopez")
    ben = UserFactory(username="ben")
    start = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    waits = {ana: [60, 120, 180, 240, 300], ben: [600]}
    number = 0
    for user, minutes_list in waits.items():
        for wait in minutes_list:
            number += 1
            with time_machine.travel(start, tick=False):
                callback = route(submit_lead(phone=f"+1202555{number:04d}"))
            with time_machine.travel(start + timedelta(seconds=wait), tick=False):
                assert callback_claim_next(user_id=user.pk).pk == callback.pk
                log(callback, user, "reached", django_capture_on_commit_callbacks)

    since, until = start - timedelta(hours=1), start + timedelta(hours=2)
    rows = {
        row.label: row
        for row in selectors_speed.speed_to_conversation(
            since=since, until=until, group="coordinator"
        )
    }
    assert set(rows) == {"Ana Lopez", "ben"}
    assert rows["Ana Lopez"].conversations == 5
    assert rows["Ana Lopez"].total.median_seconds == 180
    assert rows["Ana Lopez"].total.p90_seconds == 276  # percentile_cont: 240 + 0.6 * 60
    assert rows["ben"].total.median_seconds == 600
    [day] = selectors_speed.speed_to_conversation(since=since, until=until, group="day")
    assert day.label == "2026-12-01" and day.conversations == 6
    [article] = selectors_speed.speed_to_conversation(since=since, until=until, group="article")
    assert article.conversations == 6


def test_leads_in_the_queue_without_a_conversation_are_counted_as_waiting(
    claimed, route, coordinator, django_capture_on_commit_callbacks
):
    callback = claimed()
    route(submit_lead(phone="+12025550177"))
    assert selectors_speed.leads_waiting_for_conversation() == 2

    log(callback, coordinator, "reached", django_capture_on_commit_callbacks)

    assert selectors_speed.leads_waiting_for_conversation() == 1


def test_the_board_shows_time_to_first_conversation_to_a_supervisor(
    client, supervisor, claimed, coordinator, django_capture_on_commit_callbacks
):
    with time_machine.travel(timezone.now() - timedelta(minutes=4, seconds=10)):
        callback = claimed()
    log(callback, coordinator, "reached", django_capture_on_commit_callbacks)
    verified_login(client, supervisor)

    page = client.get("/console/board/").content.decode()

    assert "Time to first conversation" in page
    assert 'data-speed="coordinators"' in page and 'data-speed="articles"' in page
    assert coordinator.get_username() in page
    assert "4\xa0min" in page
    # A background poll swaps only the live part in: the figures are not recomputed.
    polled = client.get("/console/board/", HTTP_X_BACKGROUND="1").content.decode()
    assert "Time to first conversation" not in polled
