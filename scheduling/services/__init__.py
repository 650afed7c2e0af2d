"""Scheduling's write paths. Other modules import from here.

- ``confirmations``: each new request confirmed at once, from the request alone
- ``routing``: each new request routed to the queue (and confirmed, if not yet)
- ``routing_batch``: new requests claimed and routed in batches; the router's kick
- ``queue``: claiming the next callback, holding it, escalating what nobody took
- ``attempts``: logging a call attempt and what its outcome does
- ``callback_state``: a callback held, closed, reopened; a follow-up to its lead
- ``texts``: a person's own texts routed; a coordinator's text from the console
- ``inbound_calls``: calls to the clinic's tracking numbers
- ``erasure``: what erasing a lead does to scheduling's records
- ``calls``, ``click_to_call``, ``instant_calls``, ``call_settings``: the clinic's phone
- ``consultations``: booking, confirming, reminding, cancelling, attendance
- ``refusals``: "previously refused" callbacks, lifting a refusal, the texts invitation
- ``undo``: taking back a closing outcome for a few minutes
- ``replies``: a coordinator's own words to the person, by email
- ``preferences``: each staff member's console settings
- ``request_link``: what a confirmation email's link may do to its request, and the undo
- ``alerts``: staff alerts raised, emailed, acknowledged and settled; assignment notices
- ``crisis``: the crisis cadence of unanswered calls and the supervisor's decision
- ``screenings``: a screening recorded during the call, and the crisis it may open
- ``calls``, ``click_to_call``, ``instant_calls``: bridged calls from the clinic's
  phone (the record, the holder's "Call" button, new requests ringing staff at once)
- ``call_log``: every call writes its one attempt when the person's leg ends
- ``self_booking``: the booking link texted to a proven number, and the person's own
  booking and moves from their links (imported as a module)
- ``appointment_changes``: who booked, moved or cancelled a consultation
- ``waitlist``: putting a person on the waitlist (``waitlist_add``), taking them off,
  and offering open times by text; ``waitlist_offers``: the person's answer from the
  offer's link (the first to accept gets the time). Imported as modules.
"""

from __future__ import annotations

from scheduling.services.alerts import staff_alert_acknowledge, staff_notices_seen
from scheduling.services.appointment_moves import SlotTaken, appointment_move
from scheduling.services.attempts import CLOSING_OUTCOMES, attempt_log, retry_at_for
from scheduling.services.callback_state import callback_held
from scheduling.services.confirmations import CONFIRMATION_PER_ADDRESS_WINDOW
from scheduling.services.consultations import (
    appointment_admit,
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_mark,
    appointment_reminders_send,
    appointment_reply,
    appointment_reschedule_request,
    callback_book,
    request_cancel,
    submission_cancel,
    submission_links_revoke,
    submission_restrict,
)
from scheduling.services.crisis import callback_crisis_decide
from scheduling.services.erasure import lead_work_erase
from scheduling.services.inbound_calls import call_enqueue, call_missed_route, call_route
from scheduling.services.invitations import appointment_ics
from scheduling.services.preferences import console_preference_set
from scheduling.services.queue import (
    callback_assign,
    callback_claim_next,
    callback_leases_expire,
    callback_release,
    callback_renew,
    callbacks_escalate,
)
from scheduling.services.refusals import (
    callback_refusal_acknowledge,
    lead_refusal_lift,
    lead_sms_consent_invite,
)
from scheduling.services.replies import lead_email_reply
from scheduling.services.request_link import (
    UNDO_WINDOW,
    request_link_cancel,
    request_link_restore,
    request_link_restrict,
)
from scheduling.services.routing_batch import (
    routing_kick,
    submission_route,
    submissions_route_batch,
    submissions_route_pending,
)
from scheduling.services.screenings import callback_screenings_record, lead_screening_record
from scheduling.services.texts import (
    callback_mark_replied,
    lead_sms_reply,
    reply_enqueue,
    reply_route,
)
from scheduling.services.undo import ATTEMPT_UNDO_WINDOW, attempt_undo, attempt_undoable_until

__all__ = [
    "ATTEMPT_UNDO_WINDOW",
    "CLOSING_OUTCOMES",
    "CONFIRMATION_PER_ADDRESS_WINDOW",
    "UNDO_WINDOW",
    "SlotTaken",
    "appointment_admit",
    "appointment_book",
    "appointment_cancel",
    "appointment_confirm",
    "appointment_ics",
    "appointment_mark",
    "appointment_move",
    "appointment_reminders_send",
    "appointment_reply",
    "appointment_reschedule_request",
    "attempt_log",
    "attempt_undo",
    "attempt_undoable_until",
    "call_enqueue",
    "call_missed_route",
    "call_route",
    "callback_assign",
    "callback_book",
    "callback_claim_next",
    "callback_crisis_decide",
    "callback_held",
    "callback_leases_expire",
    "callback_mark_replied",
    "callback_refusal_acknowledge",
    "callback_release",
    "callback_renew",
    "callback_screenings_record",
    "callbacks_escalate",
    "console_preference_set",
    "lead_email_reply",
    "lead_refusal_lift",
    "lead_screening_record",
    "lead_sms_consent_invite",
    "lead_sms_reply",
    "lead_work_erase",
    "reply_enqueue",
    "reply_route",
    "request_cancel",
    "request_link_cancel",
    "request_link_restore",
    "request_link_restrict",
    "retry_at_for",
    "routing_kick",
    "staff_alert_acknowledge",
    "staff_notices_seen",
    "submission_cancel",
    "submission_links_revoke",
    "submission_restrict",
    "submission_route",
    "submissions_route_batch",
    "submissions_route_pending",
]
