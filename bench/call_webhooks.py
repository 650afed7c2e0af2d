"""Benchmark of a bridged call's webhooks: `.venv/bin/python bench/call_webhooks.py`.

On PostgreSQL (a fresh ``clinic_bench_call_webhooks`` database, dropped at the end),
``--calls`` click-to-calls are each played as Twilio plays them, every request signed
(``X-Twilio-Signature``) and posted through the Django test client to the real views:
the staff leg's status callbacks (initiated, ringing, in-progress), the answer TwiML
(the press-1 prompt), the connect TwiML on "1" (the Dial to the person, read from the
lead), the person's leg's status callbacks and its ``<Number url>`` TwiML, the
person's "completed" (which logs the call's attempt), the Dial's action, the staff
leg's "completed", and one repeated callback of each leg (Twilio delivers some twice).

Each request's time is measured inside Django by an outermost middleware (every
middleware and the view); the test client's own time is printed beside it. Prints
p50/p99 for the status callbacks, the TwiML webhooks and all of them.

Target: webhook handling p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from database import database_create, database_drop, database_url
from results import quick_mode
from results import result as result_line

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = "clinic_bench_call_webhooks"
BASE_URL = "https://clinic.example"
TOKEN = "bench-auth-token"  # noqa: S105 (the bench signs its own webhooks)
TARGET_MS = 50.0
PERSON = "+12025550143"
STAFF_PHONE = "+12025550101"
CLINIC_ID = "+14753292686"


class ServerTimingMiddleware:
    """The request's time inside Django, outermost: every middleware and the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.db import connection

        queries: list[str] = []

        def counted(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        started = time.perf_counter()
        with connection.execute_wrapper(counted):
            response = self.get_response(request)
        response["X-Bench-Ms"] = f"{(time.perf_counter() - started) * 1000:.3f}"
        response["X-Bench-Queries"] = str(len(queries))
        if os.environ.get("BENCH_SHOW_QUERIES"):
            print(request.path, *(sql[:150] for sql in queries), sep="\n  ")
        return response


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def setup_people():
    """A coordinator with a confirmed phone and ``count`` claimed callbacks' worth of
    leads, made through the real services."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from clinic.crypto import phone_hash
    from scheduling.models import StaffCallSettings

    user = User.objects.create_user(username="bench-coordinator")
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    StaffCallSettings.objects.create(
        user=user, phone=STAFF_PHONE, phone_hash=phone_hash(STAFF_PHONE), verified_at=timezone.now()
    )
    return user


def callback_claimed(user, index: int):
    from scheduling import services
    from tests.factories import submit_lead

    submission = submit_lead(first_name="Bench", phone=f"+1202555{index % 10000:04d}")
    services.submission_route(submission_id=submission.pk)
    callback = services.callback_claim_next(user_id=user.pk)
    assert callback is not None
    return callback


def play(client, user, index: int, timings: dict[str, list[float]]) -> None:
    """One click-to-call, every webhook Twilio would send, in its order."""
    from twilio.request_validator import RequestValidator

    from scheduling.models import CallLeg
    from scheduling.services import calls, click_to_call

    callback = callback_claimed(user, index)
    call = click_to_call.callback_call_place(callback_id=callback.pk, user_id=user.pk)
    # Placed already (the test settings' in-memory voice backend, eager tasks): the
    # provider's id is the one the webhooks must name.
    staff_sid = CallLeg.objects.get(call=call, role=CallLeg.Role.COORDINATOR).provider_id
    if staff_sid is None:
        staff_sid = f"CAstaff{index:026d}"
        calls.call_provider_id_set(call_id=call.pk, provider_id=staff_sid)
    person_sid = f"CAperson{index:025d}"
    validator = RequestValidator(TOKEN)
    hooks = f"/webhooks/twilio/calls/{call.pk}"
    base = {"AccountSid": "ACbench", "ApiVersion": "2010-04-01", "Direction": "outbound-api"}

    def post(kind: str, path: str, params: dict[str, str]) -> None:
        params = {**base, **params}
        signature = validator.compute_signature(BASE_URL + path, params)
        started = time.perf_counter()
        response = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
        client_ms = (time.perf_counter() - started) * 1000
        assert response.status_code in (200, 204), (path, response.status_code)
        timings[kind].append(float(response["X-Bench-Ms"]))
        timings["client"].append(client_ms)

    def status(leg: str, sid: str, state: str, **extra: str) -> None:
        params = {"CallSid": sid, "CallStatus": state, "Timestamp": _now(), **extra}
        if leg == "person":
            params["ParentCallSid"] = staff_sid
        post("status", f"{hooks}/status/{leg}/", params)

    status("coordinator", staff_sid, "initiated")
    status("coordinator", staff_sid, "ringing")
    status("coordinator", staff_sid, "in-progress")
    post("twiml", f"{hooks}/answer/", {"CallSid": staff_sid, "CallStatus": "in-progress"})
    post("twiml", f"{hooks}/connect/", {"CallSid": staff_sid, "Digits": "1"})
    status("person", person_sid, "initiated")
    status("person", person_sid, "ringing")
    status("person", person_sid, "in-progress", AnsweredBy="human")
    post(
        "twiml",
        f"{hooks}/person/",
        {"CallSid": person_sid, "ParentCallSid": staff_sid, "AnsweredBy": "human"},
    )
    status("person", person_sid, "completed", CallDuration="95", AnsweredBy="human")
    status("person", person_sid, "completed", CallDuration="95", AnsweredBy="human")  # again
    post(
        "twiml",
        f"{hooks}/dial-ended/",
        {"CallSid": staff_sid, "DialCallStatus": "completed", "DialCallDuration": "95"},
    )
    status("coordinator", staff_sid, "completed", CallDuration="110")
    status("coordinator", staff_sid, "completed", CallDuration="110")  # again


def _now() -> str:
    from email.utils import format_datetime

    from django.utils import timezone

    return format_datetime(timezone.now())


def run(count: int) -> dict[str, list[float]]:
    from django.conf import settings
    from django.test import Client

    from scheduling.models import CallAttempt

    settings.MIDDLEWARE = ["call_webhooks.ServerTimingMiddleware", *settings.MIDDLEWARE]
    user = setup_people()
    client = Client()
    timings: dict[str, list[float]] = {"status": [], "twiml": [], "client": []}
    for index in range(count):
        play(client, user, index, timings)
    logged = CallAttempt.objects.filter(call__isnull=False, result="connected").count()
    assert logged == count, f"{logged} attempts logged for {count} calls"
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if quick_mode():
        args.calls = 10

    database_create(DATABASE)
    os.environ.update(
        {
            "DJANGO_ENV": "test",
            "DATABASE_URL": database_url(DATABASE),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PUBLIC_BASE_URL": BASE_URL,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "CLINIC_CALLER_ID": CLINIC_ID,
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(BASE_DIR))
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)  # one log line per request is not what is measured
    from django.db import connections

    try:
        timings = run(args.calls)
    finally:
        connections.close_all()
        if not args.keep:
            database_drop(DATABASE)
    every = timings["status"] + timings["twiml"]
    print(f"{args.calls} click-to-calls, {len(every)} signed webhooks, PostgreSQL, test client")
    print(f"{'webhooks':<28}{'count':>7}{'min ms':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for label, values in (
        ("status callbacks", timings["status"]),
        ("TwiML (answer/connect/...)", timings["twiml"]),
        ("all (server)", every),
        ("all (as the client saw it)", timings["client"]),
    ):
        print(
            f"{label:<28}{len(values):>7}{min(values):>9.1f}{percentile(values, 0.5):>9.1f}"
            f"{percentile(values, 0.99):>9.1f}"
        )
    p99 = percentile(every, 0.99)
    print(f"target: webhook handling p99 <= {TARGET_MS:.0f} ms; measured {p99:.1f} ms")
    print(f"load average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    result_line(
        figure="call webhooks p99",
        measured=p99,
        unit="ms",
        target=f"<= {TARGET_MS:.0f}",
        met=p99 <= TARGET_MS,
    )
    return 0 if p99 <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
