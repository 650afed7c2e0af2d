"""The scheduling app's models, one module per concern; every model is importable from
``scheduling.models``.

- ``callbacks``: The callback queue coordinators work: callbacks, the attempts logged on
  them, staff alerts, crisis decisions, each coordinator's console settings, and what a
  request's link asked for.
- ``consultations``: Consultations: clinicians, their weekly availability and its
  exceptions, and appointments.
- ``calls``: The clinic's phone: each member of staff's own phone and availability,
  bridged calls and their legs, rounds of instant calls, and call recordings.
- ``self_booking``: Who changed each consultation, and the booking links that booked
  one (a link books once).
- ``waitlist``: The waitlist: people waiting for a consultation time, and the open
  times offered to them by text.
- ``staff``: The audit trail's view of staff accounts and their groups (no table of
  their own).
"""

from __future__ import annotations

from scheduling.models.callbacks import (
    CallAttempt,
    Callback,
    ConsolePreference,
    CrisisDecision,
    RequestLinkChoices,
    StaffAlert,
)
from scheduling.models.calls import (
    Call,
    CallLeg,
    CallRecording,
    InstantCallRound,
    StaffCallSettings,
)
from scheduling.models.consultations import (
    Appointment,
    Availability,
    AvailabilityException,
    Clinician,
)
from scheduling.models.self_booking import AppointmentChange, BookingLinkUse
from scheduling.models.staff import (
    StaffUser,
    StaffUserGroups,
)
from scheduling.models.waitlist import (
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOfferRecipient,
)

__all__ = [
    "Appointment",
    "AppointmentChange",
    "Availability",
    "AvailabilityException",
    "BookingLinkUse",
    "Call",
    "CallAttempt",
    "CallLeg",
    "CallRecording",
    "Callback",
    "Clinician",
    "ConsolePreference",
    "CrisisDecision",
    "InstantCallRound",
    "RequestLinkChoices",
    "StaffAlert",
    "StaffCallSettings",
    "StaffUser",
    "StaffUserGroups",
    "WaitlistEntry",
    "WaitlistOffer",
    "WaitlistOfferRecipient",
]
