"""Demo data for development: the demo article, clinic hours, one user per role."""

from __future__ import annotations

import secrets
from datetime import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from clinic import roles
from clinic.services import opening_hours_seed
from intake.services import article_import_text
from scheduling.models import Availability, Clinician

DEMO_ARTICLES = Path(settings.BASE_DIR) / "intake" / "demo"

# Weekdays with a lunch break, and a short Saturday.
DEMO_HOURS = [
    *[(day, time(8, 0), time(12, 30)) for day in range(5)],
    *[(day, time(13, 30), time(20, 0)) for day in range(5)],
    (5, time(9, 0), time(13, 0)),
]


class Command(BaseCommand):
    help = "Create the demo article, clinic hours and one user per role (development only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo is for development and tests only.")
        with transaction.atomic():
            for path in sorted(DEMO_ARTICLES.glob("*.txt")):
                article = article_import_text(
                    slug=path.stem, text=path.read_text(encoding="utf-8"), topic="depression"
                )
                self.stdout.write(f"article: /articles/{article.slug}/")
            if opening_hours_seed(intervals=DEMO_HOURS):
                self.stdout.write(
                    "opening hours: Mon-Fri 08:00-12:30, 13:30-20:00; Sat 09:00-13:00"
                )
            if not Clinician.objects.exists():
                for name, days in (("Dr. Rivera", range(0, 5)), ("Dr. Chen", (1, 3, 5))):
                    clinician = Clinician.objects.create(name=name, slot_minutes=45)
                    Availability.objects.bulk_create(
                        Availability(
                            clinician=clinician, weekday=day, starts_at=time(9), ends_at=time(17)
                        )
                        for day in days
                    )
                self.stdout.write("clinicians: Dr. Rivera (Mon-Fri), Dr. Chen (Tue, Thu, Sat)")
            self._users()

    def _users(self) -> None:
        User = get_user_model()
        password = settings.DEMO_PASSWORD
        generated = not password
        password = password or secrets.token_urlsafe(12)
        created_any = False
        for role in roles.ALL:
            group, _ = Group.objects.get_or_create(name=role)
            user, created = User.objects.get_or_create(
                username=role,
                defaults={"is_staff": role == roles.ADMIN, "is_superuser": role == roles.ADMIN},
            )
            user.groups.add(group)
            if created or settings.DEMO_PASSWORD:
                user.set_password(password)
                user.save()
                created_any = created_any or created
                self.stdout.write(f"user: {role}")
            else:
                self.stdout.write(f"user: {role} (exists, password unchanged)")
        if settings.OTP_REQUIRED:
            self.stdout.write(
                "two-factor: coordinator, supervisor and admin enrol an authenticator app at "
                "their first sign-in (OTP_REQUIRED=false skips this in development)"
            )
        if generated and created_any:
            self.stdout.write(
                self.style.WARNING(
                    f"New demo users' password (set DEMO_PASSWORD to choose): {password}"
                )
            )
