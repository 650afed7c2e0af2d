"""Notifications' services; callers import this package (``from notifications import
services``), which names every service the apps above and the tests use.

The apps above call :func:`message_send`; workers call :func:`message_deliver`;
the Twilio webhooks call :func:`message_status_record` and :func:`inbound_receive`.
"""

from __future__ import annotations

from notifications.services.delivery import (
    CONFIRMATION_VALIDITY_SECONDS,
    message_deliver,
    message_reconcile,
    message_status_record,
    sms_pace,
)
from notifications.services.inbound import (
    MISSED_DIAL_STATUSES,
    call_forward_ended,
    call_receive,
    inbound_receive,
)
from notifications.services.messages import (
    Rendered,
    contact_erase,
    message_access_record,
    message_enqueue,
    message_render,
    message_send,
    messages_cancel,
    messages_erase,
    staff_alert,
)
from notifications.services.opt_outs import (
    REFUSAL_OPT_OUT_SOURCE,
    opt_out_exists,
    opt_out_record,
)
from notifications.services.retries import (
    AMBIGUOUS_ERRORS,
    TransientDeliveryError,
    retry_delay,
    retry_give_up_at,
    retry_jitter,
)

__all__ = [
    "AMBIGUOUS_ERRORS",
    "CONFIRMATION_VALIDITY_SECONDS",
    "MISSED_DIAL_STATUSES",
    "REFUSAL_OPT_OUT_SOURCE",
    "Rendered",
    "TransientDeliveryError",
    "call_forward_ended",
    "call_receive",
    "contact_erase",
    "inbound_receive",
    "message_access_record",
    "message_deliver",
    "message_enqueue",
    "message_reconcile",
    "message_render",
    "message_send",
    "message_status_record",
    "messages_cancel",
    "messages_erase",
    "opt_out_exists",
    "opt_out_record",
    "retry_delay",
    "retry_give_up_at",
    "retry_jitter",
    "sms_pace",
    "staff_alert",
]
