"""Scheduling's read paths, for its own views, APIs and services. One module per concern:

- ``queue``: The callback queue as coordinators see it: its order, its rows, one
  callback and the refusals shown above its details, what a coordinator holds, and the
  counts.
- ``alerts``: Staff alerts: the open ones, each coordinator's, why each was raised, and
  the supervisor's board.
- ``timeline``: A lead's history on the callback page: its timeline, its crisis
  requests, and what its requests' links asked for.
- ``consultations``: Consultations: free slots, upcoming appointments, and where a
  booking was (or was not) sent.
- ``attempts``: Call attempts: the ones a coordinator may still undo, the last one
  logged, and whether their shortcuts are on.
- ``calls``: The clinic's phone: staff phones and availability, a call and the person it
  reaches, its progress, and whether the Call button may place one.
- ``speed``: time to first conversation, per day, coordinator and article (imported
  as a module: ``from scheduling.selectors import speed``).
- ``recordings``: a callback's call recordings, for playback (imported as a module).
- ``self_booking``: the open times a person's booking pages offer, by day in their
  zone, and who changed each consultation (imported as a module).
- ``waitlist``: who waits, in what order, each person's window of "soon enough" times,
  who may be texted an offer, and an offer as its link shows it (imported as a module).
"""

from __future__ import annotations

from scheduling.selectors.alerts import (
    BOARD_ROWS,
    DUE_SOON,
    BoardAlert,
    alert_reason,
    console_alerts,
    staff_alerts_open,
    supervisor_board,
)
from scheduling.selectors.attempts import (
    attempt_get,
    attempt_last,
    attempts_undoable,
    console_shortcuts_enabled,
)
from scheduling.selectors.calls import (
    CALL_MAX,
    CALL_UNHEARD_AFTER,
    CallPerson,
    CallProgress,
    call_get,
    call_id_of_staff_leg,
    call_live_for,
    call_person,
    call_progress,
    calls_live_of,
    calls_stale,
    click_to_call_blocker,
    softphone_configured,
    staff_available_for_instant_calls,
    staff_call_settings_get,
    staff_phone_verified,
)
from scheduling.selectors.consultations import (
    BOOKING_UNSENT_UNVERIFIED,
    BOOKING_UNSENT_VERIFIED,
    Slot,
    appointment_booking_notice,
    appointment_booking_sent_to,
    appointment_get,
    appointments_upcoming,
    slot_find,
    slots_available,
)
from scheduling.selectors.queue import (
    LIVE,
    QUEUE_ROW_FIELDS,
    CallbackRefusals,
    RefusalShown,
    callback_get,
    callback_live_for_lead,
    callback_queue,
    callback_queue_counts,
    callback_queue_rows,
    callback_refusals,
    callbacks_held_by,
)
from scheduling.selectors.timeline import (
    CrisisRequest,
    RequestChoicesInForce,
    TimelineEntry,
    crisis_requests,
    lead_timeline,
    request_choices_in_force,
)

__all__ = [
    "BOARD_ROWS",
    "BOOKING_UNSENT_UNVERIFIED",
    "BOOKING_UNSENT_VERIFIED",
    "CALL_MAX",
    "CALL_UNHEARD_AFTER",
    "DUE_SOON",
    "LIVE",
    "QUEUE_ROW_FIELDS",
    "BoardAlert",
    "CallPerson",
    "CallProgress",
    "CallbackRefusals",
    "CrisisRequest",
    "RefusalShown",
    "RequestChoicesInForce",
    "Slot",
    "TimelineEntry",
    "alert_reason",
    "appointment_booking_notice",
    "appointment_booking_sent_to",
    "appointment_get",
    "appointments_upcoming",
    "attempt_get",
    "attempt_last",
    "attempts_undoable",
    "call_get",
    "call_id_of_staff_leg",
    "call_live_for",
    "call_person",
    "call_progress",
    "callback_get",
    "callback_live_for_lead",
    "callback_queue",
    "callback_queue_counts",
    "callback_queue_rows",
    "callback_refusals",
    "callbacks_held_by",
    "calls_live_of",
    "calls_stale",
    "click_to_call_blocker",
    "console_alerts",
    "console_shortcuts_enabled",
    "crisis_requests",
    "lead_timeline",
    "request_choices_in_force",
    "slot_find",
    "slots_available",
    "softphone_configured",
    "staff_alerts_open",
    "staff_available_for_instant_calls",
    "staff_call_settings_get",
    "staff_phone_verified",
    "supervisor_board",
]
