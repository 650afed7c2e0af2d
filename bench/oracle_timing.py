"""Does the public POST's timing tell a stranger whether a phone is known?
`.venv/bin/python bench/oracle_timing.py`

Issue 20 keeps the rule that nothing observable tells a stranger whether a phone or an
email is known: the 201, its body and its timing must be the same for a person the
clinic knows (an open lead), a person under a refusal ("do not contact") and a number
never seen. This starts gunicorn with the production settings (bench/settings.py, as
bench/intake.py does, one sync worker so requests do not overlap), seeds 500 known
people and 500 refused ones through the real services, then POSTs 500 requests of each
kind (known, refused, unknown), shuffled together, one at a time over one keep-alive
connection, and compares the client-side latencies: median and mean per kind and the
difference of means with its 95 % interval (Welch). Each request names a different
person and reader, so no limit is reached and every answer is the same 201.

The target: the difference of means is within its own noise (the 95 % interval holds
0) or below 1 ms, and every answer has the same status and the same keys.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from results import quick_mode, result

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_intake", HERE / "intake.py")
stack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stack)

KINDS = ("known", "refused", "unknown")
SLUG = "science-behind-antidepressants"


def phone(kind: str, i: int) -> str:
    """A distinct valid US number per kind and index (555-01xx are fictional lines)."""
    exchange = {"known": 301, "refused": 302, "unknown": 303}[kind]
    return f"+1202{exchange}{i:04d}"


def body(kind: str, i: int, run: str) -> dict:
    return {
        "first_name": "Bench",
        "phone": phone(kind, i),
        "preferred_channel": "call",
        "sms_consent": False,
        "article": SLUG,
        "page_url": f"https://clinic.example/articles/{SLUG}/",
        "utm_campaign": run,
    }


SEED = """
from notifications.refusals import refusal_record
from scheduling.services import submission_route
from intake.models import Submission

for submission in Submission.objects.filter(processed_at__isnull=True).order_by("pk"):
    submission_route(submission_id=submission.pk)
for i in range({count}):
    refusal_record(phone="+1202302%04d" % i, recorded_by_id=None, source="bench")
"""


def post(connection: http.client.HTTPConnection, payload: dict, reader: str) -> tuple:
    encoded = json.dumps(payload).encode()
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/v1/leads/",
        body=encoded,
        headers={"Content-Type": "application/json", "X-Forwarded-For": reader},
    )
    answer = connection.getresponse()
    content = answer.read()
    elapsed = (time.perf_counter() - started) * 1000
    keys = tuple(sorted(json.loads(content))) if answer.status == 201 else ()
    return answer.status, keys, elapsed


def welch(a: list[float], b: list[float]) -> tuple[float, float]:
    """Difference of means (a - b) and the half-width of its 95 % interval."""
    difference = statistics.fmean(a) - statistics.fmean(b)
    error = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return difference, 1.96 * error


def median_interval(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    """Difference of medians (a - b) and the half-width of its 95 % bootstrap interval:
    the median is what a stranger timing a few requests would compare, and it is not
    moved by the machine's other work the way the mean is."""
    rng = random.Random(7)
    difference = statistics.median(a) - statistics.median(b)
    resampled = sorted(
        statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b)))
        for _ in range(rounds)
    )
    low, high = resampled[int(0.025 * rounds)], resampled[int(0.975 * rounds)]
    return difference, (high - low) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20 if quick_mode() else 500)
    args = parser.parse_args()
    count = args.count
    stack.check_services()
    port = stack.free_port()
    env = stack.server_env(port)
    log_path = Path(tempfile.gettempdir()) / "clinic-bench-oracle-gunicorn.log"
    server = None
    try:
        stack.redis_flush()
        stack.prepare_database(env)
        server = stack.start_gunicorn(env, port, workers=1, threads=1, log_path=log_path)
        connection = http.client.HTTPConnection(stack.HOST, port, timeout=10)
        stack.log(f"seeding {count} known and {count} refused people")
        for i in range(count):
            status, _, _ = post(connection, body("known", i, "seed"), f"198.18.1.{i % 250}")
            assert status == 201, status
        stack.manage(env, "shell", "-v", "0", "-c", SEED.format(count=count))
        stack.redis_flush()  # the seeding's limits and throttles are not the test's

        plan = [(kind, i) for kind in KINDS for i in range(count)]
        random.Random(20).shuffle(plan)
        # Warm the worker's caches first with requests nobody measures.
        for i in range(50):
            post(connection, body("unknown", 9000 + i, "warm"), f"198.19.9.{i}")
        timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
        answers: set[tuple] = set()
        stack.log(f"{len(plan)} measured POSTs, shuffled")
        for n, (kind, i) in enumerate(plan):
            reader = f"198.{18 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"
            status, keys, elapsed = post(connection, body(kind, i, "measure"), reader)
            answers.add((status, keys))
            timings[kind].append(elapsed)
        connection.close()
    finally:
        stack.stop(server)
        stack.redis_flush()
        stack.psql(f'DROP DATABASE IF EXISTS "{stack.DATABASE}" WITH (FORCE)')

    print(f"\n{'kind':<8} {'n':>5} {'median ms':>10} {'mean ms':>9} {'p95 ms':>8}")
    for kind in KINDS:
        values = sorted(timings[kind])
        p95 = values[int(0.95 * (len(values) - 1))]
        print(
            f"{kind:<8} {len(values):>5} {statistics.median(values):>10.2f} "
            f"{statistics.fmean(values):>9.2f} {p95:>8.2f}"
        )
    same_answer = len(answers) == 1
    print(f"\nanswers: {sorted(answers)}")
    for kind in ("known", "refused"):
        difference, half = welch(timings[kind], timings["unknown"])
        within = abs(difference) <= half or abs(difference) < 1.0
        print(
            f"{kind} - unknown: {difference:+.2f} ms (95 % interval ±{half:.2f} ms): "
            f"{'no measurable difference' if within else 'DIFFERENT'}"
        )
        by_median, median_half = median_interval(timings[kind], timings["unknown"])
        print(f"  medians: {by_median:+.2f} ms (bootstrap 95 % interval ±{median_half:.2f} ms)")
        result(
            figure=f"POST timing, {kind} minus unknown phone (mean, {count} each)",
            measured=abs(difference),
            unit="ms",
            target=f"<= max(1, 95% interval {half:.2f})",
            met=within and same_answer,
        )
    result(
        figure="POST answers: distinct (status, keys) over all kinds",
        measured=len(answers),
        unit="kinds",
        target="== 1",
        met=same_answer,
    )


if __name__ == "__main__":
    sys.exit(main())
