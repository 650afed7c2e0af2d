"""Scheduling's staff API (DRF, one view per operation): the callback queue, its
attempts and refusals (``callbacks``), and consultations (``consultations``). The
clinic's phone has its own modules beside this package (``call_apis``,
``call_settings_apis``) and so has the inbox (``inbox_apis``)."""

from __future__ import annotations

from scheduling.apis.callbacks import (
    CallbackAttemptsApi,
    CallbackClaimNextApi,
    CallbackListApi,
    CallbackRefusalAcknowledgeApi,
    CallbackReleaseApi,
)
from scheduling.apis.consultations import (
    AppointmentActionApi,
    AppointmentListApi,
    AppointmentMoveApi,
    SlotListApi,
)

__all__ = [
    "AppointmentActionApi",
    "AppointmentListApi",
    "AppointmentMoveApi",
    "CallbackAttemptsApi",
    "CallbackClaimNextApi",
    "CallbackListApi",
    "CallbackRefusalAcknowledgeApi",
    "CallbackReleaseApi",
    "SlotListApi",
]
