"""The ground every app stands on: what intake, scheduling and notifications all need,
and that knows none of them.

It owns:

- field encryption and the keyed lookup hashes (``clinic.crypto``);
- the one error type, and the handler that gives every API error one shape
  (``clinic.errors``);
- what every API operation's schema says beyond its fields: the error answers and the
  rules the server checks that OpenAPI cannot state (``clinic.openapi``);
- the staff roles and the checks pages and APIs make of them (``clinic.roles``);
- the Redis cache that fails open (``clinic.cache``);
- the client's address behind the proxies we trust (``clinic.proxies``);
- text folded for matching: crisis language, message wording, opt-out replies
  (``clinic.text``);
- staff sign-in: lockout, the second factor, the idle timeout and API tokens
  (``clinic.signin``; its templates stay in the project's ``templates/registration``);
- the audit trail: what is recorded and in whose name (``clinic.audit.events``), and
  reading and showing it (``clinic.audit.trail``);
- handing work to the Celery workers by task name (``clinic.workers.enqueue``), so
  that no service imports a tasks module;
- clinic time: opening hours and closures (``clinic.models``, edited in the admin,
  first set through ``clinic.services``), public holidays, time zones and the
  speed-to-lead clock (``clinic.business_time``).

It imports no other app of the project (intake, scheduling, notifications) and not
config/: config wires the apps together, every app may import clinic, and clinic
imports only Django and libraries.
"""
