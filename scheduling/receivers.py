"""Scheduling's answers to what the lower apps announce; connected in ``apps.ready``."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from scheduling import services
from scheduling.services import confirmations, conversations, undelivered


def on_submission_received(sender: Any, *, submission_id: int, **kwargs: Any) -> None:
    # Sent after commit. Only the confirmation, on its own queue: it never waits for
    # routing, and once it has confirmed it kicks the batch router (no task per
    # submission), which leaves unconfirmed requests to it for a moment
    # (ROUTING_CONFIRMATION_GRACE). A lost confirmation (broker down, message lost) is
    # made good by the sweep, which kicks the router: it confirms what was not.
    confirmations.confirmation_enqueue(submission_id=submission_id)


def on_reply_received(sender: Any, *, inbound_id: int, kind: str, **kwargs: Any) -> None:
    # Keywords are handled by notifications; anything a person wrote goes to a coordinator.
    if kind in ("reply", "opt_out_request"):
        services.reply_enqueue(inbound_id=inbound_id)
    if kind == "reply":
        # Half of a text exchange, maybe the half that stops the speed-to-lead clock.
        conversations.reply_conversation_enqueue(inbound_id=inbound_id)


def on_message_sent(
    sender: Any, *, message_id: int, channel: str, purpose: str, correlation: str, **kwargs: Any
) -> None:
    conversations.message_sent_enqueue(
        message_id=message_id, channel=channel, purpose=purpose, correlation=correlation
    )


def on_lead_erased(sender: Any, *, lead_id: int, **kwargs: Any) -> None:
    # In intake's erasing transaction, on purpose: see intake.signals.lead_erased.
    services.lead_work_erase(lead_id=lead_id)


def on_call_received(sender: Any, *, call_id: int, **kwargs: Any) -> None:
    services.call_enqueue(call_id=call_id, missed=False)


def on_call_missed(sender: Any, *, call_id: int, **kwargs: Any) -> None:
    services.call_enqueue(call_id=call_id, missed=True)


def on_message_failed(sender: Any, *, message_id: int, **kwargs: Any) -> None:
    # A confirmation text that will not arrive may be followed by an email.
    transaction.on_commit(
        lambda: undelivered.undelivered_enqueue(message_id=message_id), robust=True
    )
