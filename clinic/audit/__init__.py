"""The audit trail: every change to the clinic's records and every read of a lead's
personal data, append-only, with who, role, what, when and from where (docs/audit.md).

- :mod:`clinic.audit.events`: what is recorded. Changes are recorded by PostgreSQL row
  triggers (django-pghistory on django-pgtrigger), so ``QuerySet.update()``, raw SQL
  and the admin are caught too; models opt in with ``audited``, which stores every
  column except the personal ones, and for those only *which* changed, never a value,
  because the trail outlives erasure. Reads are events of the same event models,
  written by ``event_record`` (called by ``intake.services.lead_access_record`` and
  friends), so one lead's trail reads as one timeline. Who and from where come from
  ``audit_context``: the web request (``AuditContextMiddleware``) or the Celery task
  (config.celery); on PostgreSQL it is pghistory's context, which the triggers copy
  into each event row.
- :mod:`clinic.audit.trail`: reading and showing it: one lead's trail, one staff
  user's, and the admin's pages for them.

SQLite (the development default) has no triggers: there the change trail is empty,
reads are still recorded, and nothing else changes.
"""
