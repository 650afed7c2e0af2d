"""The clinic's work with each person: the callback queue, calls and their attempts,
outcomes, consultations and the coordinators' console.

It owns callbacks (routed from each new submission, claimed in order, escalated when
nobody takes them), call attempts and their outcomes, the clinic's phone (bridged and
instant calls, staff phones, call records), consultations and their reminders, staff
alerts, crisis follow-up, the signed links in confirmation emails and the console's
pages. Its write paths are in ``scheduling.services`` (one module per concern, listed
in its docstring), its reads in ``scheduling.selectors``.

It may import ``intake`` and ``notifications`` (their services and selectors, and
their models only as types and for joins), and ``clinic``; never ``config``. Neither
lower app imports it: they tell it what happened through their own signals
(``intake.signals``, ``notifications.signals``), connected in ``scheduling.apps``.
"""
