"""Notifications: the messaging layer, speaking to people by SMS, email and phone.

It owns:

- messages (``Message``) and their templates (``MessageTemplate``, edited in the
  admin): what a message says and the health wording it may never carry
  (``wording``), recording one to send exactly once, delivering it through the SMS
  backend (Twilio, ``backends``) or SMTP with retries and quiet hours
  (``quiet_hours``), and erasing messages (``services``: one module per concern);
- what people send us: texts (``InboundMessage``; STOP, START, YES, HELP and replies,
  ``replies``) and calls to a clinic number (``InboundCall``), through Twilio's signed
  webhooks (``views``);
- what a number or an address told us: opt-outs (``OptOut``), refusals of any
  contact (``Refusal``, ``refusals``) and the number's own yes or stop to texts
  (``SmsConsentState``, ``sms_consent``, ``sms_invites``);
- the voice transport and the TwiML of a bridged call (``voice``,
  ``bridged_call_twiml``), whose calls the apps above record;
- what it counts for Prometheus (``metrics``).

Others change its records only through ``notifications.services`` and read them
through ``notifications.selectors``. It tells the apps above what happened only
through the signals it defines (``notifications.signals``: a message finally failed,
a reply came in, a number opted out, a call came in or was missed), sent after
commit.

It imports the ground app ``clinic`` (crypto, audit trail, errors, workers.enqueue,
clinic time) and Django and libraries only: never intake, scheduling or config/, and
none of its services imports a tasks module (work goes to the workers by task name
through ``clinic.workers.enqueue``).
"""
