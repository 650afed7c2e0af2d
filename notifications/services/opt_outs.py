"""Numbers we may no longer text: a STOP, the carrier's opt-out, an unusable number or
a refusal blocks SMS to the number, and the texts waiting for it are suppressed."""

from __future__ import annotations

from django.db import transaction

from clinic.crypto import phone_hash
from notifications.metrics import MESSAGES
from notifications.models import Message, OptOut
from notifications.services.recipient_locks import recipients_stop
from notifications.services.retries import AMBIGUOUS_ERRORS
from notifications.signals import opted_out
from notifications.sms_consent import sms_consent_restricted

# The source of the opt-out a refusal makes (notifications.refusals): lifting the
# refusal lifts it; a stop the person sent themselves takes it over.
REFUSAL_OPT_OUT_SOURCE = "refusal"


def opt_out_exists(*, phone: str) -> bool:
    hashed = phone_hash(phone)
    return bool(hashed) and OptOut.objects.filter(phone_hash=hashed).exists()


def opt_out_record(*, phone: str, reason: str = OptOut.Reason.OPTED_OUT, source: str) -> bool:
    """Block SMS to ``phone``; pending texts to it are suppressed, and a form's
    consent no longer allows texting it (``sms_consent``). True if new.

    A text whose last try timed out is left to the delivery path: the provider may
    have taken it, and only the provider can tell. The next try asks it first and
    records the text as sent, or else refuses it for the opt-out (``_transport``).
    A text being sent to it now is sent before this commits; none is sent after."""
    with transaction.atomic():
        # Texts already on their way to it go first; none goes after (recipient_locks).
        recipients_stop(hashes=[phone_hash(phone)])
        opt_out, created = OptOut.objects.get_or_create(
            phone_hash=phone_hash(phone),
            defaults={"phone": phone[:20], "reason": reason, "source": source[:50]},
        )
        if not created and opt_out.source == REFUSAL_OPT_OUT_SOURCE != source:
            # The person (or the carrier) stopped texts too: lifting the refusal must not
            # lift this stop.
            OptOut.objects.filter(pk=opt_out.pk).update(reason=reason, source=source[:50])
        sms_consent_restricted(phone=phone)
        suppressed = (
            Message.objects.filter(
                channel=Message.Channel.SMS,
                recipient=phone,
                status__in=[Message.Status.PENDING, Message.Status.SCHEDULED],
            )
            .exclude(error_code__in=AMBIGUOUS_ERRORS)
            .update(status=Message.Status.SUPPRESSED, error_code="opted_out")
        )
        if suppressed:
            MESSAGES.labels(Message.Channel.SMS, Message.Status.SUPPRESSED).inc(suppressed)
        if created:
            transaction.on_commit(
                lambda: opted_out.send_robust(sender=OptOut, phone=phone, reason=reason),
                robust=True,
            )
    return created
