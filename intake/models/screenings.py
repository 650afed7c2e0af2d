"""Pre-admission screenings a coordinator records during the call (intake.instruments).

Clinical data: the answers, the score, the band, the presenting concern and the level
of care are encrypted at rest (``EncryptedTextField``), never stored on the audit
trail (only *which* changed), and every read is recorded there (``SCREENING_READ``).
Only two facts are stored in the clear, because queries need them: when the person
was screened (``created_at``, later the funnel's "screened") and whether the
screening opened the crisis protocol (``opens_crisis``, which makes the lead a crisis
lead for every message and call, as a crisis submission's ``in_crisis`` does).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models

from clinic.audit.events import audited
from clinic.crypto import EncryptedTextField
from intake.instruments import BAND_LABELS, GAD7, INSTRUMENTS, PHQ9, choice_label

# The audit trail's event for a read of a screening (clinic.audit.events).
SCREENING_READ = "screening.read"

# What erasure leaves of a screening: the fact and its time, nothing clinical.
SCREENING_BLANK = {
    "answers": "",
    "score": "",
    "band": "",
    "presenting_concern": "",
    "level_of_care": "",
    "opens_crisis": False,
}


@audited(
    personal=["answers", "score", "band", "presenting_concern", "level_of_care"],
    reads=[SCREENING_READ],
)
class Screening(models.Model):
    """One instrument (PHQ-9 or GAD-7) answered by the person over the phone."""

    class Instrument(models.TextChoices):
        PHQ9 = PHQ9, INSTRUMENTS[PHQ9].label
        GAD7 = GAD7, INSTRUMENTS[GAD7].label

    lead = models.ForeignKey("intake.Lead", on_delete=models.CASCADE, related_name="screenings")
    instrument = models.CharField(max_length=10, choices=Instrument.choices)
    # A JSON list of the answers (0-3), in the instrument's order.
    answers = EncryptedTextField()
    score = EncryptedTextField(help_text="The sum of the answers.")
    band = EncryptedTextField(help_text="The published severity band of the score.")
    presenting_concern = EncryptedTextField(blank=True)
    level_of_care = EncryptedTextField(blank=True, help_text="The recommended level of care.")
    opens_crisis = models.BooleanField(
        default=False,
        help_text="PHQ-9 question 9 (self-harm) answered above 0: the crisis protocol opened.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["lead", "created_at"], name="screening_lead_time")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(instrument__in=[PHQ9, GAD7]), name="screening_instrument_known"
            ),
        ]

    def __str__(self) -> str:
        # No score or band: the admin's list and logs show this.
        return f"{self.get_instrument_display()} screening {self.pk}"

    @property
    def answer_list(self) -> list[int]:
        return json.loads(self.answers) if self.answers else []

    @property
    def score_value(self) -> int | None:
        return int(self.score) if self.score else None

    @property
    def band_label(self) -> str:
        return BAND_LABELS.get(self.band, "")

    @property
    def presenting_concern_label(self) -> str:
        return choice_label(self.presenting_concern)

    @property
    def level_of_care_label(self) -> str:
        return choice_label(self.level_of_care)
