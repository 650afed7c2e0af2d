"""Speed to lead, measured to a conversation: what stops the clock.

The clock (``Lead.first_conversation_at`` and friends, written only through
``intake.services.conversations``) stops at the first of:

- **a call**: a bridged call (``Call``) whose person leg completed, answered by a human
  (answering machine detection said ``human`` or ``unknown``, or did not run: never
  ``machine_*`` or ``fax``), lasting at least :data:`CONVERSATION_MIN_SECONDS`. The
  moment is when the person answered; the member of staff is the call's;
- **a hand-logged attempt**: an attempt logged as reached (or booked) that no bridged
  call of the same coordinator on that callback answered just before (a coordinator
  who dialled by the ``tel:`` fallback still talked to the person). The moment is the
  attempt's ``created_at``: when it was logged, a little after the talk;
- **a text exchange**, only where the person chose texts (the contact preference of
  the submission that opened their first callback): a coordinator's own text and a
  reply from the lead's number after it, or the person's text and then a coordinator's
  reply (``notifications.selectors.sms_exchange_at``). The moment is the second message;
  the member of staff is who held the lead's callback then, if anyone did.

Every outreach (a call that dialled the person, an attempt logged, a coordinator's text
that left) also stamps ``first_attempt_at``. Everything here runs after the change it reads has
committed, and is idempotent: the first moment wins in the database whatever order
events arrive in, so the backfill (``manage.py conversations_backfill``) may run any
time.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from clinic.workers import enqueue
from intake import selectors as intake_selectors
from intake.models import Lead
from intake.services import conversations as intake_conversations
from notifications import selectors as notification_selectors
from notifications.conversations import lead_id_of
from scheduling.models import Call, CallAttempt, Callback, CallLeg

# A call shorter than this is a wrong number, a hang-up or "can you call later", not a
# conversation.
CONVERSATION_MIN_SECONDS = 30
# Answering machine detection verdicts that mean no person was on the line.
NOT_A_PERSON_PREFIXES = ("machine", "fax")
# The coordinator's own words to the person (scheduling.services.texts.lead_sms_reply):
# automatic texts (confirmations, HELP answers, invitations) are not half a conversation.
COORDINATOR_TEXT_TEMPLATES = ("coordinator_reply", "coordinator_reply_crisis")
# An attempt logged this soon after a bridged call of the same coordinator that the
# person answered is that call's outcome: the call's own measure decides.
BRIDGED_CALL_WINDOW = timedelta(hours=1)
ENDED = frozenset(
    {
        CallLeg.Status.COMPLETED,
        CallLeg.Status.BUSY,
        CallLeg.Status.NO_ANSWER,
        CallLeg.Status.FAILED,
        CallLeg.Status.CANCELED,
    }
)


def person_leg_was_conversation(leg: CallLeg) -> bool:
    """The person's leg was a conversation: completed, answered by a human, long enough."""
    return (
        leg.role == CallLeg.Role.PERSON
        and leg.status == CallLeg.Status.COMPLETED
        and leg.answered_at is not None
        and (leg.duration_seconds or 0) >= CONVERSATION_MIN_SECONDS
        and not leg.answered_by.lower().startswith(NOT_A_PERSON_PREFIXES)
    )


def call_leg_ended(*, call_id: int, status: str) -> None:
    """A leg of ``call_id`` now has ``status``: once it is final, measure the call
    after the current transaction commits (``call_leg_status_record`` calls this)."""
    if status in ENDED:
        transaction.on_commit(lambda: call_conversation_record(call_id=call_id), robust=True)


def call_conversation_record(*, call_id: int) -> bool:
    """A bridged call that dialled the person is an attempt (when their phone was
    dialled: ringing the member of staff's own phone reaches nobody), and a
    conversation when the person's leg was one. True if it stopped the clock (now)."""
    call = Call.objects.select_related("callback").filter(pk=call_id).first()
    if call is None:
        return False
    person = CallLeg.objects.filter(call_id=call_id, role=CallLeg.Role.PERSON).first()
    if person is None:
        return False
    lead_id = call.callback.lead_id
    dialled = [
        moment
        for moment in (person.initiated_at, person.ringing_at, person.answered_at, person.ended_at)
        if moment is not None
    ]
    intake_conversations.lead_attempt_record(
        lead_id=lead_id, at=min(dialled, default=call.created_at)
    )
    if not person_leg_was_conversation(person):
        return False
    return intake_conversations.lead_conversation_record(
        lead_id=lead_id,
        at=person.answered_at,
        via=Lead.ConversationVia.CALL,
        by_id=call.coordinator_id,
    )


def attempt_logged(*, attempt_id: int) -> None:
    """An attempt was logged (``attempt_log``, ``callback_book``): measure it after
    the current transaction commits."""
    transaction.on_commit(lambda: attempt_conversation_record(attempt_id=attempt_id), robust=True)


def _bridged_call_answered(attempt: CallAttempt) -> bool:
    """The attempt is a bridged call's (it logged itself), or follows one the person
    answered: that call's own 30-second rule decides, not the outcome typed."""
    if attempt.call_id is not None:
        return True
    return Call.objects.filter(
        callback_id=attempt.callback_id,
        coordinator_id=attempt.coordinator_id,
        created_at__gte=attempt.created_at - BRIDGED_CALL_WINDOW,
        created_at__lte=attempt.created_at,
        legs__role=CallLeg.Role.PERSON,
        legs__answered_at__isnull=False,
    ).exists()


def attempt_conversation_record(*, attempt_id: int) -> bool:
    """A logged attempt is an attempt; reached or booked by hand (no bridged call the
    person answered just before), a conversation. True if it stopped the clock now."""
    attempt = CallAttempt.objects.select_related("callback").filter(pk=attempt_id).first()
    if attempt is None or attempt.undone_at is not None:
        return False
    lead_id = attempt.callback.lead_id
    intake_conversations.lead_attempt_record(lead_id=lead_id, at=attempt.created_at)
    if attempt.outcome not in (CallAttempt.Outcome.REACHED, CallAttempt.Outcome.BOOKED):
        return False
    if _bridged_call_answered(attempt):
        return False
    return intake_conversations.lead_conversation_record(
        lead_id=lead_id,
        at=attempt.created_at,
        via=Lead.ConversationVia.HAND_LOGGED,
        by_id=attempt.coordinator_id,
    )


def _first_callback(lead_id: int) -> Callback | None:
    """The callback that started the lead's clock (its first)."""
    return (
        Callback.objects.select_related("submission", "lead")
        .filter(lead_id=lead_id)
        .order_by("created_at", "pk")
        .first()
    )


def text_exchange_record(*, lead_id: int) -> bool:
    """Where the person chose texts, the first two-way exchange with the lead's number
    since their request stops the clock. True if it did (now)."""
    first = _first_callback(lead_id)
    if first is None or first.submission.preferred_channel != Lead.Channel.SMS:
        return False
    at = notification_selectors.sms_exchange_at(
        phone_hash=first.lead.phone_hash,
        since=first.submission.created_at,
        templates=COORDINATOR_TEXT_TEMPLATES,
    )
    if at is None:
        return False
    holder = (
        Callback.objects.filter(lead_id=lead_id, claimed_by__isnull=False)
        .order_by("-claimed_at")
        .values_list("claimed_by_id", flat=True)
        .first()
    )
    return intake_conversations.lead_conversation_record(
        lead_id=lead_id, at=at, via=Lead.ConversationVia.TEXT, by_id=holder
    )


def message_sent_enqueue(*, message_id: int, channel: str, purpose: str, correlation: str) -> bool:
    """A message left: a coordinator's text to a lead is outreach, and may complete an
    exchange (measured by a task)."""
    if channel != "sms" or purpose != "reply" or lead_id_of(correlation) is None:
        return False
    return enqueue("scheduling.tasks.conversation_message_sent", message_id)


def conversation_message_sent(*, message_id: int) -> bool:
    """A coordinator's text left: stamp the lead's first attempt and look for a
    completed exchange."""
    message = notification_selectors.message_get(message_id=message_id)
    if message is None or message.template not in COORDINATOR_TEXT_TEMPLATES:
        return False
    lead_id = lead_id_of(message.correlation)
    if lead_id is None or message.sent_at is None:
        return False
    if not intake_selectors.lead_exists(lead_id=lead_id):
        return False
    intake_conversations.lead_attempt_record(lead_id=lead_id, at=message.sent_at)
    return text_exchange_record(lead_id=lead_id)


def reply_conversation_enqueue(*, inbound_id: int) -> bool:
    return enqueue("scheduling.tasks.conversation_reply_received", inbound_id)


def conversation_reply_received(*, inbound_id: int) -> int:
    """A person texted us: for each lead with that number and a callback, look for a
    completed exchange. Returns how many clocks it stopped."""
    inbound = notification_selectors.inbound_get(inbound_id=inbound_id)
    if inbound is None or not inbound.sender_hash:
        return 0
    lead_ids = (
        Callback.objects.filter(
            lead_id__in=intake_selectors.lead_ids_with_phone_hash(hashed=inbound.sender_hash)
        )
        .order_by()
        .values_list("lead_id", flat=True)
        .distinct()
    )
    return sum(text_exchange_record(lead_id=lead_id) for lead_id in lead_ids)


def conversations_backfill() -> dict[str, int]:
    """Measure every call, attempt and text exchange already recorded (first wins, so
    running it again, or alongside live traffic, changes nothing). Counts what each
    kind stopped."""
    counts = {"calls": 0, "attempts": 0, "texts": 0}
    for call_id in Call.objects.order_by("pk").values_list("pk", flat=True).iterator():
        counts["calls"] += call_conversation_record(call_id=call_id)
    for attempt_id in CallAttempt.objects.order_by("pk").values_list("pk", flat=True).iterator():
        counts["attempts"] += attempt_conversation_record(attempt_id=attempt_id)
    texting = (
        Callback.objects.filter(submission__preferred_channel=Lead.Channel.SMS)
        .order_by()
        .values_list("lead_id", flat=True)
        .distinct()
    )
    for lead_id in texting.iterator():
        counts["texts"] += text_exchange_record(lead_id=lead_id)
    return counts
