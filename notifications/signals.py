"""What notifications tells the apps above it. Each is sent after the change
commits; receivers enqueue work (ids only) and never decide in the sender's
transaction.

``message_failed(sender, message_id: int, correlation: str, error_code: str)``
    A message will not be delivered (permanent error, carrier failure, or its retry
    budget spent: ``Message.give_up_at``). ``correlation`` is the value the caller
    gave ``message_send``.

``message_sent(sender, message_id: int, channel: str, purpose: str, correlation: str)``
    The provider took a message (it left the clinic). ``correlation`` is the value
    the caller gave ``message_send``.

``reply_received(sender, inbound_id: int, phone: str, kind: str)``
    A person texted us. ``kind`` is an ``InboundMessage.Kind``: a keyword
    (opt_out, opt_in, help), a request to stop in their own words
    (opt_out_request), or any other reply.

``opted_out(sender, phone: str, reason: str)``
    No SMS may go to ``phone`` any more (STOP, carrier opt-out, unusable number).

``call_received(sender, call_id: int)``
    Someone called one of the clinic's numbers (``InboundCall``); the call is being
    forwarded to the clinic line.

``call_missed(sender, call_id: int)``
    The forwarded call was not answered (no answer, busy, failed): someone must
    call back, urgently.
"""

from __future__ import annotations

from django.dispatch import Signal

message_failed = Signal()
message_sent = Signal()
reply_received = Signal()
opted_out = Signal()
call_received = Signal()
call_missed = Signal()
