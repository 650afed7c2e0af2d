"""Notifications' services, one module per concern. Callers import this package
(``from notifications import services``), which names every service the apps above,
the workers, the webhooks and the tests use:

- :mod:`~notifications.services.messages`: what a message says (rendered, checked for
  health wording), recording one to send (``message_send``) and handing it to the
  workers, staff alerts, cancelling unsent ones and erasing messages;
- :mod:`~notifications.services.delivery`: handing a message to the provider exactly
  once (``message_deliver``), failing it for good, reconciling a try whose worker
  died, and what the provider reports afterwards (``message_status_record``);
- :mod:`~notifications.services.delivery_batches`: due messages claimed in batches
  and sent concurrently (``messages_deliver_due``, the outbox sweep's);
- :mod:`~notifications.services.retries`: when a failed try is tried again and when
  it is given up;
- :mod:`~notifications.services.inbound`: texts and calls people send us;
- :mod:`~notifications.services.opt_outs`: numbers we may no longer text;
- :mod:`~notifications.services.recipient_locks`: a send and a stop (a STOP, a
  refusal) to the same person never cross: nothing goes once a stop is acknowledged.

Imports among them run one way: delivery_batches uses delivery; delivery and inbound
use messages, messages uses opt_outs, opt_outs uses retries and recipient_locks;
none imports a module above it, and none imports a tasks module (work goes to the
workers by task name, ``clinic.workers.enqueue``).
"""

from __future__ import annotations

from notifications.services.delivery import (
    CONFIRMATION_VALIDITY_SECONDS,
    message_deliver,
    message_reconcile,
    message_status_record,
)
from notifications.services.delivery_batches import messages_deliver_due
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
    message_templates_forget,
    messages_cancel,
    messages_erase,
    messages_recorrelate,
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
    "message_templates_forget",
    "messages_cancel",
    "messages_deliver_due",
    "messages_erase",
    "messages_recorrelate",
    "opt_out_exists",
    "opt_out_record",
    "retry_delay",
    "retry_give_up_at",
    "retry_jitter",
    "staff_alert",
]
