"""Intake's models, by concern: ``leads`` (articles, the people who answer their calls
to action, their submissions and Idempotency-Keys), ``consent`` (the append-only
ledger of what they agreed to), ``funnel`` (anonymous CTA event counts and the
conversion funnel's rollups), ``screenings`` (pre-admission screenings, encrypted),
``insurance`` (a lead's insurance and the verification of benefits, ids encrypted)
and ``webhooks`` (the delivery log of outbound webhooks).
Every model is re-exported here: ``from intake.models import Lead``. The audit trail's
event models (``LeadEvent``...) are added to this module by
``clinic.audit.events.audited``."""

from __future__ import annotations

from intake.models.consent import (
    CONSENT_REDACTED,
    Consent,
    ConsentLedgerError,
    ConsentQuerySet,
)
from intake.models.funnel import (
    CONTACT_TIME_EDGES,
    CONTACT_TIME_FIELDS,
    CONTACT_TIME_PARTS,
    FUNNEL_EVENT_FIELDS,
    FUNNEL_FIELDS,
    FUNNEL_KEY_FIELDS,
    FUNNEL_LEAD_FIELDS,
    ROLLUP_COUNTERS,
    ROLLUP_IDENTITY,
    ArticleDailyCount,
    CtaEventType,
    CtaFormField,
    FunnelRollup,
    cell_key_field,
    contact_time_field,
)
from intake.models.insurance import (
    INSURANCE_BLANK,
    INSURANCE_READ,
    SELF_PAY,
    WAITING_STATUSES,
    InsuranceRecord,
    InsuranceVerification,
    PlanType,
    SubscriberRelationship,
    VerificationStatus,
    payer_choices,
    payer_label,
)
from intake.models.leads import (
    LEAD_READ,
    REFERENCE_ALPHABET,
    Article,
    IdempotencyKey,
    Lead,
    PhoneType,
    Submission,
    new_reference,
)
from intake.models.screenings import SCREENING_BLANK, SCREENING_READ, Screening
from intake.models.webhooks import WebhookDelivery

__all__ = [
    "CONSENT_REDACTED",
    "CONTACT_TIME_EDGES",
    "CONTACT_TIME_FIELDS",
    "CONTACT_TIME_PARTS",
    "FUNNEL_EVENT_FIELDS",
    "FUNNEL_FIELDS",
    "FUNNEL_KEY_FIELDS",
    "FUNNEL_LEAD_FIELDS",
    "INSURANCE_BLANK",
    "INSURANCE_READ",
    "LEAD_READ",
    "REFERENCE_ALPHABET",
    "ROLLUP_COUNTERS",
    "ROLLUP_IDENTITY",
    "SCREENING_BLANK",
    "SCREENING_READ",
    "SELF_PAY",
    "WAITING_STATUSES",
    "Article",
    "ArticleDailyCount",
    "Consent",
    "ConsentLedgerError",
    "ConsentQuerySet",
    "CtaEventType",
    "CtaFormField",
    "FunnelRollup",
    "IdempotencyKey",
    "InsuranceRecord",
    "InsuranceVerification",
    "Lead",
    "PhoneType",
    "PlanType",
    "Screening",
    "Submission",
    "SubscriberRelationship",
    "VerificationStatus",
    "WebhookDelivery",
    "cell_key_field",
    "contact_time_field",
    "new_reference",
    "payer_choices",
    "payer_label",
]
