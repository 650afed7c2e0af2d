"""What the person's booking pages show (the open times, by day, in their own time
zone) and who changed each consultation (for the coordinators)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from clinic import business_time
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import selectors as notification_selectors
from scheduling.models import Appointment, AppointmentChange, BookingLinkUse
from scheduling.selectors.consultations import Slot, slots_available

# How far ahead the person may choose a time from their link.
SELF_BOOKING_WINDOW = timedelta(days=14)
# At most this many open times are offered (the page stays short on a phone).
SELF_BOOKING_MAX_SLOTS = 120


@dataclass(frozen=True)
class SlotOption:
    #: What the form posts: "<clinician id>|<start, ISO 8601 in UTC>".
    value: str
    #: The start in the person's zone.
    local: datetime


@dataclass(frozen=True)
class SlotDay:
    day: date
    options: list[SlotOption]


def lead_zone(lead: Lead) -> str:
    """The person's time zone: the lead's, else their latest request's ("" for none:
    ``business_time.person_zone`` then takes the clinic's)."""
    if lead.timezone:
        return lead.timezone
    submission = intake_selectors.lead_submissions(lead_id=lead.pk).first()
    return submission.timezone if submission else ""


def texted_link_may_act(*, lead: Lead) -> bool:
    """A link texted to the lead (a booking link, a waitlist offer) may still act for
    them: the lead is not closed, nobody asked that the person not be contacted (a
    refusal: what the link books brings a call and messages, whoever holds the text),
    and the lead's number is proven theirs. Each link checks besides that the lead
    still has the number it was texted to."""
    if lead.stage == Lead.Stage.CLOSED or not lead.phone_hash:
        return False
    if notification_selectors.contact_refused(phone=lead.phone, email=lead.email):
        return False
    return intake_selectors.lead_verification(lead_id=lead.pk).phone


def slot_value(slot: Slot) -> str:
    return f"{slot.clinician_id}|{slot.starts_at.astimezone(UTC).isoformat()}"


def slot_options(slots: Iterable[Slot], *, tz_name: str) -> list[SlotDay]:
    """``slots`` by day in the person's zone (``tz_name``; the clinic's when they gave
    none), one option per start time (the person chooses a time, not a clinician)."""
    zone = business_time.person_zone(tz_name)
    days: dict[date, list[SlotOption]] = {}
    seen: set[datetime] = set()
    for slot in sorted(slots, key=lambda each: each.starts_at):
        if slot.starts_at in seen:
            continue
        seen.add(slot.starts_at)
        local = slot.starts_at.astimezone(zone)
        days.setdefault(local.date(), []).append(SlotOption(value=slot_value(slot), local=local))
    return [SlotDay(day=day, options=options) for day, options in days.items()]


def self_booking_days(*, tz_name: str) -> list[SlotDay]:
    """The open times the person may choose from, by day in their zone."""
    now = timezone.now()
    slots = slots_available(start=now, end=now + SELF_BOOKING_WINDOW, limit=SELF_BOOKING_MAX_SLOTS)
    return slot_options(slots, tz_name=tz_name)


def booking_link_appointment(*, lead_id: int, nonce: str) -> int | None:
    """The consultation a booking link's page is about instead of booking: the one
    the link (``nonce``) booked, whatever became of it, else the lead's active one."""
    used = BookingLinkUse.objects.filter(nonce=nonce).values_list("appointment_id", flat=True)
    active = Appointment.objects.filter(lead_id=lead_id, status__in=Appointment.ACTIVE)
    return used.first() or active.values_list("pk", flat=True).first()


def appointment_history(*, lead_id: int) -> list[AppointmentChange]:
    """Every booking, move and cancellation of the lead's consultations, newest first,
    with who made it."""
    return list(
        AppointmentChange.objects.filter(appointment__lead_id=lead_id)
        .select_related("user")
        .order_by("-created_at", "-pk")
    )


def appointment_last_changes(*, appointment_ids: Iterable[int]) -> dict[int, AppointmentChange]:
    """The latest change of each appointment, by appointment id."""
    latest: dict[int, AppointmentChange] = {}
    changes = AppointmentChange.objects.filter(appointment_id__in=list(appointment_ids))
    for change in changes.select_related("user").order_by("created_at", "pk"):
        latest[change.appointment_id] = change
    return latest
