"""The load generator of bench/intake.py: its own process, asyncio and raw HTTP/1.1.

Two modes, each bounded in requests and time, and only to 127.0.0.1:

- open loop (``--rate R``): request i is due at start + i/R whatever happened to the
  ones before (constant arrival rate); its latency runs from when it was due, so a
  server that falls behind is charged for the queue it causes (no coordinated
  omission);
- closed loop (``--concurrency C``): C connections send back to back, for the
  maximum rate the server sustains.

Prints one JSON object: counts by status, achieved req/s, latency percentiles (ms)
and the CPU seconds this process used (it shares the machine with the server).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import sys
import time
import uuid

SLUG = "science-behind-antidepressants"
AREA_CODES = (202, 212, 213, 312, 415, 617, 718, 305, 404, 512)
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) clinic-bench/1"
MAX_IN_FLIGHT = 512
TIMEOUT_SECONDS = 10.0
GRACE_SECONDS = 10.0


def reader_address(i: int) -> str:
    """Request i's reader, as the proxy in front would name it (X-Forwarded-For): an
    address from 198.18.0.0/15, the range set aside for benchmarks. Only a header:
    no traffic goes there. Many readers, as in life, so the per-IP throttles keep a
    short history each instead of one ever longer list for a single client."""
    i %= 1 << 17
    return f"198.{18 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def lead_body(run: str, i: int) -> tuple[bytes, dict[str, str]]:
    """A new person each time (no worker runs and SMS consent is off: nothing is sent)."""
    rest = i // len(AREA_CODES)
    phone = f"+1{AREA_CODES[i % len(AREA_CODES)]}{200 + rest % 800:03d}{(rest // 800) % 10000:04d}"
    body = {
        "first_name": "Bench",
        "phone": phone,
        "email": f"bench-{run}-{i}@example.org",
        "preferred_channel": "call",
        "best_time": "anytime",
        "timezone": "America/New_York",
        "sms_consent": False,
        "article": SLUG,
        "page_url": f"https://clinic.example/articles/{SLUG}/",
        "utm_source": "bench",
        "utm_campaign": run,
    }
    return json.dumps(body).encode(), {
        "Idempotency-Key": f"{run}-{i}",
        "X-Forwarded-For": reader_address(i),
    }


def event_body(run: str, i: int) -> tuple[bytes, dict[str, str]]:
    kind = ("article_view", "cta_view", "form_start")[i % 3]
    return json.dumps({"article": SLUG, "type": kind}).encode(), {
        "X-Forwarded-For": reader_address(i)
    }


BODIES = {"lead": lead_body, "event": event_body}


class StaleConnection(ConnectionError):
    """The connection closed before any answer: the request was not taken."""


class Client:
    """Keep-alive connections to one server, reopened when it says Connection: close."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.idle:
            try:
                return await self._exchange(*self.idle.pop(), path, body, headers)
            except StaleConnection:
                pass  # closed by the server while idle (keep-alive timeout): a fresh one
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(reader, writer, path, body, headers)

    async def _exchange(self, reader, writer, path: str, body: bytes, headers: dict) -> int:
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"User-Agent: {USER_AGENT}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            try:
                status_line = await reader.readline()
            except ConnectionError as error:
                raise StaleConnection(str(error)) from error
            if not status_line:
                raise StaleConnection("closed before answering")
            status = int(status_line.split()[1])
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def open_loop(args, client: Client, make) -> tuple[list[float], dict, float]:
    loop = asyncio.get_running_loop()
    total = int(args.rate * args.duration)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    start = loop.time() + 0.05
    # A server that cannot keep up would make the run last as long as its backlog:
    # requests still waiting for a connection after this are counted, not sent.
    give_up = start + args.duration + GRACE_SECONDS
    last_done = start

    async def one(i: int, due: float) -> None:
        nonlocal last_done
        async with in_flight:
            body, headers = make(args.run, i)
            try:
                if loop.time() > give_up:
                    key = "not sent (backlog)"
                else:
                    status = await asyncio.wait_for(
                        client.post(args.path, body, headers), TIMEOUT_SECONDS
                    )
                    key = str(status)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                key = type(error).__name__
        now = loop.time()
        if not key.startswith("not sent"):
            last_done = max(last_done, now)
        statuses[key] = statuses.get(key, 0) + 1
        if key.startswith("2"):
            latencies.append((now - due) * 1000)

    tasks = []
    for i in range(total):
        due = start + i / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(args.offset + i, due)))
    await asyncio.gather(*tasks)
    return latencies, statuses, last_done - start


async def closed_loop(args, client_for, make) -> tuple[list[float], dict, float]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counter = itertools.count(args.offset)
    start = loop.time()
    stop = start + args.duration

    async def worker() -> None:
        client = client_for()
        while loop.time() < stop:
            body, headers = make(args.run, next(counter))
            sent = loop.time()
            try:
                status = await asyncio.wait_for(
                    client.post(args.path, body, headers), TIMEOUT_SECONDS
                )
                key = str(status)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                key = type(error).__name__
                client.idle.clear()
            statuses[key] = statuses.get(key, 0) + 1
            if key.startswith("2"):
                latencies.append((loop.time() - sent) * 1000)

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return latencies, statuses, loop.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body", choices=sorted(BODIES), required=True)
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--rate", type=float, help="open loop: requests per second offered")
    parser.add_argument("--concurrency", type=int, help="closed loop: connections")
    parser.add_argument("--run", default=uuid.uuid4().hex[:8], help="tag that keeps data unique")
    parser.add_argument("--offset", type=int, default=0, help="first request number")
    args = parser.parse_args()
    if bool(args.rate) == bool(args.concurrency):
        parser.error("give exactly one of --rate and --concurrency")
    if not 0 < args.duration <= 60:
        parser.error("--duration must be within (0, 60] seconds")

    host = "127.0.0.1"  # never anything else
    make = BODIES[args.body]
    wall = time.monotonic()
    if args.rate:
        latencies, statuses, elapsed = asyncio.run(open_loop(args, Client(host, args.port), make))
    else:
        latencies, statuses, elapsed = asyncio.run(
            closed_loop(args, lambda: Client(host, args.port), make)
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    latencies.sort()
    ok = len(latencies)
    result = {
        "mode": "open" if args.rate else "closed",
        "offered": args.rate,
        "concurrency": args.concurrency,
        "sent": sum(statuses.values()),
        "ok": ok,
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "achieved": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50": percentile(latencies, 0.50),
        "p90": percentile(latencies, 0.90),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else None,
        "client_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "wall_seconds": round(time.monotonic() - wall, 2),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
