"""Intake: how a reader becomes a lead, and what marketing may learn of it.

It owns:

- articles, the people who answer their calls to action (leads), their submissions
  and Idempotency-Keys (``intake.models.leads``), the append-only consent ledger
  (``intake.models.consent``), anonymous CTA event counts and the funnel's rollups
  (``intake.models.funnel``);
- the public API (``intake.apis``: ``leads``, ``events``, ``reports``) and pages
  (``intake.views``: the article with its call to action, the no-JavaScript form,
  marketing's dashboard);
- a callback request's rules, checked once and then stored
  (``intake.services.submissions``: ``submission_check``, ``submission_store``), the
  callback window it promises (from clinic time), crisis language (``intake.crisis``),
  bot checks, throttles and contact limits;
- attaching submissions to people and the lead's life stages, time-stamped
  (``intake.services.leads``), retention and erasure (``intake.services.privacy``);
- the conversion reports (``intake.reports``) and what they may show
  (``intake.report_disclosure``: small-cell and complementary suppression, the cell
  key perturbation).

It may import ``clinic`` (the ground app) and ``notifications``' services and
selectors; never ``scheduling`` and never ``config``. It tells scheduling what
happened only through its own signals (``intake.signals``: ``submission_received``
after commit, ``lead_erased``); scheduling calls its services and selectors.
"""
