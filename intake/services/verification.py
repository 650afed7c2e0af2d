"""Which of a lead's contact details are proven to be the person's.

Every phone, email and name a lead has came from an anonymous form (or a call's caller
id), so none of them is the person's until proven: the person answers a call to the
number or texts from it, or a coordinator confirms the detail with them. A link in an
email proves nothing about the address: it reaches whoever typed it. What is proven,
how and when is on the lead (``*_verified_at``/``*_verified_by``, ``name_confirmed_at``);
who recorded it is on the audit trail (the update event's context). Scheduling asks
``intake.selectors.lead_verification`` before anything that carries care.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.crypto import phone_hash
from intake.models import Lead


def verification_fields(
    *, phone: bool, email: bool, name: bool, by: str, at: datetime
) -> dict[str, Any]:
    """The lead's columns that record these details as proven ``by`` that means ``at``
    (for ``lead_details_confirm``, which writes them with the details themselves)."""
    fields: dict[str, Any] = {}
    if phone:
        fields.update(phone_verified_at=at, phone_verified_by=by)
    if email:
        fields.update(email_verified_at=at, email_verified_by=by)
    if name:
        fields["name_confirmed_at"] = at
    return fields


def _check_means(*, email: bool, name: bool, by: str) -> None:
    if (email or name) and by != Lead.Verification.COORDINATOR:
        # A call or a text proves the number only; an address or a name needs a person
        # who spoke with them.
        raise ValueError("Only a coordinator confirms an email address or a name.")


def lead_details_verify(
    *,
    lead_id: int,
    by: str,
    phone: bool = False,
    email: bool = False,
    name: bool = False,
) -> Lead | None:
    """Record that the lead's current phone, email or first name are the person's, as
    proven ``by`` (a ``Lead.Verification``). The first proof of a detail is kept (its
    time and means); a detail the lead does not have is not verified. Only a
    coordinator confirms an email or a name (``ValueError`` otherwise). Returns the
    lead, or None when there is no such lead."""
    by = Lead.Verification(by)
    _check_means(email=email, name=name, by=by)
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None:
            return None
        fields = verification_fields(
            phone=phone and bool(lead.phone) and lead.phone_verified_at is None,
            email=email and bool(lead.email) and lead.email_verified_at is None,
            name=name and bool(lead.first_name) and lead.name_confirmed_at is None,
            by=by,
            at=timezone.now(),
        )
        for field, value in fields.items():
            setattr(lead, field, value)
        if fields:
            lead.save(update_fields=list(fields))
    return lead


def lead_phone_verify(*, phone: str, by: str) -> int:
    """The person at ``phone`` proved control of it (they texted from it): the open
    leads whose number it is have it verified, unless already. Matched by keyed hash in
    the update itself, so a lead whose number a coordinator just changed is not
    touched. Returns how many leads changed."""
    by = Lead.Verification(by)
    hashed = phone_hash(phone)
    if not hashed:
        return 0
    return (
        Lead.objects.filter(phone_hash=hashed, phone_verified_at__isnull=True)
        .exclude(stage=Lead.Stage.CLOSED)
        .update(phone_verified_at=timezone.now(), phone_verified_by=by)
    )
