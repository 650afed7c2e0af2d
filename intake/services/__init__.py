"""Intake's write paths. Other apps and intake's own views import from here.

- ``submissions``: a callback request checked once (``submission_check``) and stored
  (``submission_store``); ``lead_submit`` for one without a browser
- ``leads``: attaching submissions to people, life stages
- ``confirmations``: who sends a request's confirmations (the first to claim them)
- ``batch_attach``: submissions claimed and attached in batches (the batch router)
- ``articles``: articles named by a CTA, imported from text, a sitemap or a feed
- ``events``: anonymous CTA event counts
- ``rollups``: the conversion funnel's aggregate counters (``rollups_batch``: per batch)
- ``privacy``: retention and erasure of a lead's personal data
- ``access``: reads of a lead's personal data, on the audit trail
- ``conversations``: the speed-to-lead clock (first attempt, first conversation)
- ``verification``: which of a lead's details are proven to be the person's
- ``requests``: what a request's own link may change on it (less contact, a cancel)
- ``screenings``: pre-admission screenings checked, stored encrypted, reads audited
- ``insurance``: a lead's insurance checked, stored (ids encrypted), its verification
  status set in one place (``insurance_verification_set``), reads audited
- ``stages``: admissions steps (screened, insurance verified, waitlisted) reached
- ``webhooks``: stage changes queued for the clinic's EMR or CRM
  (``webhook_delivery``: sent signed, retried)
"""

from __future__ import annotations

from intake.services.access import lead_access_record, leads_access_record
from intake.services.articles import (
    ArticleImportResult,
    article_id_for_slug,
    article_import_text,
    article_slug_cache_clear,
    articles_import,
    slug_from_url,
)
from intake.services.batch_attach import (
    AttachBatch,
    submission_attach_batched,
    submissions_attach_flush,
    submissions_attach_rollups,
    submissions_claim,
    submissions_unprocess,
)
from intake.services.confirmations import submission_confirmation_claim
from intake.services.conversations import lead_attempt_record, lead_conversation_record
from intake.services.events import cta_event_counts_flush, cta_event_record, is_bot
from intake.services.insurance import (
    InsuranceRequest,
    insurance_access_record,
    insurance_check,
    insurance_erase,
    insurance_from_submission,
    insurance_record_save,
    insurance_verification_set,
    member_id_clean,
    member_id_rule,
    payer_rule,
)
from intake.services.leads import (
    CONTACT_PREFERENCE_DEFAULTS,
    STAGE_ORDER,
    STAGE_TIMESTAMP,
    UTM_FIELDS,
    lead_close_undo,
    lead_contact_restrict,
    lead_details_confirm,
    lead_reopen,
    lead_stage_advance,
    phone_type_of,
    submission_attach,
    submission_mark_processed,
)
from intake.services.privacy import (
    lead_erase,
    lead_ids_retention_due,
    leads_retention_anonymise,
)
from intake.services.requests import (
    SubmissionCancelled,
    submission_cancel_clear,
    submission_cancel_record,
    submission_contact_restrict,
    submission_links_revoke,
    submission_lock,
)
from intake.services.rollup_rebuild import funnel_rollups_rebuild
from intake.services.rollups import funnel_event_counts_sync, lead_funnel_contributions
from intake.services.screenings import (
    ScreeningRequest,
    screening_check,
    screening_store,
    screenings_access_record,
    screenings_erase,
)
from intake.services.stages import (
    INSURANCE_VERIFIED,
    SCREENED,
    WAITLISTED,
    lead_stage_reach,
)
from intake.services.submissions import (
    LeadSubmitOutcome,
    SubmissionRequest,
    lead_submit,
    lead_submit_call,
    lead_submit_replay,
    request_fingerprint,
    submission_build,
    submission_check,
    submission_store,
)
from intake.services.verification import lead_details_verify, lead_phone_verify
from intake.services.webhook_delivery import (
    DeliveryOutcome,
    webhook_deliver,
    webhook_ids_due,
    webhook_redeliver,
)
from intake.services.webhooks import lead_stage_webhooks_enqueue

__all__ = [
    "CONTACT_PREFERENCE_DEFAULTS",
    "INSURANCE_VERIFIED",
    "SCREENED",
    "STAGE_ORDER",
    "STAGE_TIMESTAMP",
    "UTM_FIELDS",
    "WAITLISTED",
    "ArticleImportResult",
    "AttachBatch",
    "DeliveryOutcome",
    "InsuranceRequest",
    "LeadSubmitOutcome",
    "ScreeningRequest",
    "SubmissionCancelled",
    "SubmissionRequest",
    "article_id_for_slug",
    "article_import_text",
    "article_slug_cache_clear",
    "articles_import",
    "cta_event_counts_flush",
    "cta_event_record",
    "funnel_event_counts_sync",
    "funnel_rollups_rebuild",
    "insurance_access_record",
    "insurance_check",
    "insurance_erase",
    "insurance_from_submission",
    "insurance_record_save",
    "insurance_verification_set",
    "is_bot",
    "lead_access_record",
    "lead_attempt_record",
    "lead_close_undo",
    "lead_contact_restrict",
    "lead_conversation_record",
    "lead_details_confirm",
    "lead_details_verify",
    "lead_erase",
    "lead_funnel_contributions",
    "lead_ids_retention_due",
    "lead_phone_verify",
    "lead_reopen",
    "lead_stage_advance",
    "lead_stage_reach",
    "lead_stage_webhooks_enqueue",
    "lead_submit",
    "lead_submit_call",
    "lead_submit_replay",
    "leads_access_record",
    "leads_retention_anonymise",
    "member_id_clean",
    "member_id_rule",
    "payer_rule",
    "phone_type_of",
    "request_fingerprint",
    "screening_check",
    "screening_store",
    "screenings_access_record",
    "screenings_erase",
    "slug_from_url",
    "submission_attach",
    "submission_attach_batched",
    "submission_build",
    "submission_cancel_clear",
    "submission_cancel_record",
    "submission_check",
    "submission_confirmation_claim",
    "submission_contact_restrict",
    "submission_links_revoke",
    "submission_lock",
    "submission_mark_processed",
    "submission_store",
    "submissions_attach_flush",
    "submissions_attach_rollups",
    "submissions_claim",
    "submissions_unprocess",
    "webhook_deliver",
    "webhook_ids_due",
    "webhook_redeliver",
]
