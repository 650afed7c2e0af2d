"""Scheduling: the clinic's work with the people who ask for a call, the top app.

It owns the callback queue coordinators work (``Callback``: routing each new
submission, claiming, leases, escalation), call attempts and their outcomes
(``CallAttempt``, undo), bridged and instant calls (``Call``, ``CallLeg``,
``InstantCallRound``, ``StaffCallSettings``) and their Twilio webhooks
(``call_webhooks``), consultations and their reminders (``Appointment``,
``Availability``), staff alerts, the signed links a person uses without an account
(``links``), and the console and supervisor's board (``views``, ``board``,
``console_page``), with their APIs (``apis``).

It may import intake and notifications and meets them at their services and
selectors: a lead's stage, a submission's state and every message change go through
``intake.services`` and ``notifications.services`` (their models are imported for
their constants and for the relations of its own). It may import the ground app
``clinic`` (clinic time, roles, errors, audit, workers.enqueue), never config/, which
only wires it in. No app imports scheduling: it hears of the lower apps' events
through their signals, connected in ``apps.ready`` (``receivers``), each handing its
work to a Celery task.
"""
