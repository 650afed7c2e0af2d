"""The waitlist as coordinators and the offer sweep see it: who waits, in what order,
the window of times that counts as "soon enough" for each, and who may be texted an
offer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from clinic import business_time
from intake import selectors as intake_selectors
from intake.models import Lead
from notifications import selectors as notification_selectors
from scheduling.models import Appointment, WaitlistEntry, WaitlistOffer, WaitlistOfferRecipient
from scheduling.selectors.consultations import Slot, slots_available
from scheduling.selectors.self_booking import texted_link_may_act


def waitlist_reasons() -> list[tuple[str, str]]:
    """Why a person may wait (``WAITLIST_REASONS``), as choices with readable labels."""
    return [(value, value.replace("-", " ").capitalize()) for value in settings.WAITLIST_REASONS]


def waitlist_window(*, earliest_date: date) -> tuple[datetime, datetime]:
    """The times that count as "soon enough" for a person who can come from
    ``earliest_date`` (clinic time): from then (or now, if later) for
    ``WAITLIST_AFTER_DAYS`` days. Nothing open in it is what puts a person on the
    waitlist; anything that opens in it is offered to them."""
    opens = datetime.combine(earliest_date, time.min, tzinfo=business_time.clinic_zone())
    start = max(timezone.now(), opens)
    return start, start + timedelta(days=settings.WAITLIST_AFTER_DAYS)


def waitlist_slots_open(*, earliest_date: date, limit: int = 500) -> list[Slot]:
    """The open consultation times in the person's window (``waitlist_window``)."""
    start, end = waitlist_window(earliest_date=earliest_date)
    return slots_available(start=start, end=end, limit=limit)


def waitlist_entries_live() -> QuerySet[WaitlistEntry]:
    """Everyone still waiting (offered a time or not), in waitlist order: first added,
    first offered."""
    return (
        WaitlistEntry.objects.filter(status__in=WaitlistEntry.LIVE)
        .select_related("lead", "created_by")
        .order_by("created_at", "id")
    )


def lead_waitlist_entry(*, lead_id: int) -> WaitlistEntry | None:
    """The lead's place on the waitlist, if they are waiting."""
    return (
        WaitlistEntry.objects.filter(lead_id=lead_id, status__in=WaitlistEntry.LIVE)
        .select_related("created_by")
        .first()
    )


def lead_waitlist_entries(*, lead_id: int) -> QuerySet[WaitlistEntry]:
    """Every waitlist entry of the lead, newest first."""
    return WaitlistEntry.objects.filter(lead_id=lead_id).order_by("-created_at", "-id")


def lead_has_upcoming_appointment(*, lead_id: int) -> bool:
    return Appointment.objects.filter(
        lead_id=lead_id, status__in=Appointment.ACTIVE, starts_at__gt=timezone.now()
    ).exists()


def lead_offer_reachable(*, lead_id: int) -> bool:
    """An offer may be texted to the lead: their phone is proven theirs (an offer
    carries a link that books their care), takes texts, and they may be texted now
    (consent, no STOP, no refusal: ``intake.selectors.sms_permission``)."""
    return (
        intake_selectors.lead_verification(lead_id=lead_id).phone
        and intake_selectors.lead_sms_reachable(lead_id=lead_id)
        and intake_selectors.lead_sms_consent_granted(lead_id=lead_id)
        and intake_selectors.lead_stage(lead_id=lead_id) != Lead.Stage.CLOSED
    )


def waitlist_times_offered() -> set[tuple[int, int, datetime]]:
    """(entry, clinician, start) of every time ever offered to a person still waiting:
    nobody is offered the same time twice."""
    return set(
        WaitlistOfferRecipient.objects.filter(entry__status__in=WaitlistEntry.LIVE).values_list(
            "entry_id", "offer__clinician_id", "offer__starts_at"
        )
    )


def waitlist_times_open_offered() -> set[tuple[int, datetime]]:
    """(clinician, start) of the times offered right now."""
    return set(
        WaitlistOffer.objects.filter(status=WaitlistOffer.Status.OPEN).values_list(
            "clinician_id", "starts_at"
        )
    )


@dataclass(frozen=True)
class OfferView:
    """One person's offer as their link shows it."""

    recipient: WaitlistOfferRecipient
    offer: WaitlistOffer
    entry: WaitlistEntry
    #: The person can still accept it now.
    open: bool
    #: Someone else has it (or it went another way).
    taken: bool
    expired: bool

    @property
    def state(self) -> str:
        """What the person's page says: "yours" (they accepted it), "taken", "expired",
        "not_waiting" (they left or were taken off), "declined", or "open"."""
        if self.offer.accepted_entry_id == self.entry.pk:
            return "yours"
        if self.taken:
            return "taken"
        if self.expired:
            return "expired"
        if self.entry.status not in WaitlistEntry.LIVE:
            return "not_waiting"
        if self.recipient.declined_at is not None:
            return "declined"
        return "open"


def waitlist_offer_view(*, offer_id: int, entry_id: int) -> OfferView | None:
    """The offer sent to this entry, and whether it is still theirs to take."""
    recipient = (
        WaitlistOfferRecipient.objects.select_related(
            "offer", "offer__clinician", "entry", "entry__lead"
        )
        .filter(offer_id=offer_id, entry_id=entry_id)
        .first()
    )
    if recipient is None:
        return None
    offer, entry = recipient.offer, recipient.entry
    now = timezone.now()
    expired = offer.status == WaitlistOffer.Status.EXPIRED or (
        offer.status == WaitlistOffer.Status.OPEN and offer.expires_at <= now
    )
    taken = offer.status in (WaitlistOffer.Status.ACCEPTED, WaitlistOffer.Status.WITHDRAWN) and (
        offer.accepted_entry_id != entry.pk
    )
    return OfferView(
        recipient=recipient,
        offer=offer,
        entry=entry,
        open=offer.status == WaitlistOffer.Status.OPEN
        and not expired
        and entry.status in WaitlistEntry.LIVE
        and recipient.declined_at is None,
        taken=taken,
        expired=expired,
    )


def waitlist_offer_text_key(*, offer_id: int, entry_id: int) -> str:
    """The key an offer's text to one waiting person is sent under (once per offer and
    person); its link's page finds the number the text went to by it."""
    return f"waitlist-offer:{offer_id}:{entry_id}"


def waitlist_offer_link_opens(*, view: OfferView) -> bool:
    """The offer's link still speaks for its person: their lead is not closed, nobody
    asked that they not be contacted (a refusal), and the lead still has the number the
    offer was texted to, proven theirs. A link is a bearer key: once the number changed
    (corrected by a coordinator, or now someone else's) or the person refused contact,
    whoever holds the old text books nothing and sees nothing."""
    lead = view.entry.lead
    if not texted_link_may_act(lead=lead):
        return False
    key = waitlist_offer_text_key(offer_id=view.offer.pk, entry_id=view.entry.pk)
    return notification_selectors.message_recipient_hash(dedupe_key=f"{key}:sms") == (
        lead.phone_hash
    )


@dataclass(frozen=True)
class WaitlistPanel:
    """The callback page's waitlist section."""

    entry: WaitlistEntry | None
    reasons: list[tuple[str, str]]
    #: The first open times in the default window (today on): book, don't wait.
    open_slots: list[Slot]
    #: Offers go only to a proven phone that takes texts.
    offer_reachable: bool
    after_days: int
    today: date


def waitlist_panel(*, lead_id: int) -> WaitlistPanel:
    """What the callback page shows of the waitlist for this lead."""
    today = timezone.localdate(timezone=business_time.clinic_zone())
    entry = lead_waitlist_entry(lead_id=lead_id)
    return WaitlistPanel(
        entry=entry,
        reasons=waitlist_reasons(),
        open_slots=[] if entry else waitlist_slots_open(earliest_date=today, limit=3),
        offer_reachable=lead_offer_reachable(lead_id=lead_id),
        after_days=settings.WAITLIST_AFTER_DAYS,
        today=today,
    )
