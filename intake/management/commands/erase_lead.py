"""Erase a lead's personal data on the person's request."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clinic.errors import ApplicationError
from intake.selectors import lead_by_reference
from intake.services import lead_erase


class Command(BaseCommand):
    help = (
        "Erase the personal data of the lead one of whose submissions has this reference "
        "(for example R-7KQ2-MX4P-9DTA): names, contact details, messages and notes go; aggregates "
        "and hashed consent and opt-out evidence stay. An open lead is closed first."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("reference")
        parser.add_argument(
            "--reason",
            required=True,
            help="Why (a ticket number or 'request by email'; never the person's details).",
        )
        parser.add_argument("--by", default="", help="Username of the staff member asking.")

    def handle(self, *args: Any, reference: str, reason: str, by: str, **options: Any) -> None:
        lead = lead_by_reference(reference=reference)
        if lead is None:
            raise CommandError(f"No submission has the reference {reference!r}.")
        actor = None
        if by:
            actor = get_user_model().objects.filter(username=by).first()
            if actor is None:
                raise CommandError(f"No user is named {by!r}.")
        try:
            erased = lead_erase(lead=lead, actor=actor, reason=reason)
        except ApplicationError as error:
            raise CommandError(str(error)) from error
        if erased:
            self.stdout.write(self.style.SUCCESS(f"Lead {lead.pk} erased."))
        else:
            self.stdout.write(f"Lead {lead.pk} was already anonymised: nothing to do.")
