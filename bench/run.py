"""`make bench`: run every benchmark under bench/ and print one table.

Each benchmark prints its own table and, for each figure with a target, a line
``RESULT {json}`` (bench/results.py). This runner runs them one after another,
shows their output as it comes, collects those lines and prints a single table
(figure, measured, target, met or not), then writes it with a description of the
machine to docs/benchmarks.md.

    .venv/bin/python bench/run.py            # full size: minutes; the figures to commit
    .venv/bin/python bench/run.py --quick    # seconds: checks the benchmarks and this runner

Quick mode (BENCH_QUICK=1 for each benchmark) writes var/bench/benchmarks-quick.md
instead, so a quick run never replaces the committed figures. The exit status is
1 when a benchmark failed to run or reported nothing; unmet targets are reported,
not failed, since a shared machine can miss them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.results import RESULT_PREFIX  # noqa: E402 (after the path is set)

BENCHMARKS = (
    "intake.py",
    "oracle_timing.py",
    "worker_intake.py",
    "routing_scale.py",
    "notifications.py",
    "bursts.py",
    "delivery.py",
    "instant_calls.py",
    "call_webhooks.py",
    "callback_queue.py",
    "reports.py",
)
OUTPUT = BASE_DIR / "docs" / "benchmarks.md"
QUICK_OUTPUT = BASE_DIR / "var" / "bench" / "benchmarks-quick.md"
FIELDS = ("figure", "measured", "unit", "target", "met")
TIMEOUT_SECONDS = {False: 3600, True: 600}
# Quick sizes for a benchmark that does not read BENCH_QUICK itself.
QUICK_ARGS = {"reports.py": ["--leads", "20000", "--events", "200000", "--runs", "5"]}


@dataclass
class BenchmarkRun:
    name: str
    returncode: int | None = None
    seconds: float = 0.0
    results: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Reported nothing, or something unreadable. A benchmark that exits non-zero
        after reporting (a missed target) has run; its status is in docs/benchmarks.md."""
        return not self.results or bool(self.problems)


def parse_result_lines(lines: list[str]) -> tuple[list[dict], list[str]]:
    """The RESULT objects among a benchmark's output lines, and what was wrong with
    any line that starts like one but is not one."""
    results, problems = [], []
    for line in lines:
        if not line.startswith(RESULT_PREFIX):
            continue
        try:
            item = json.loads(line[len(RESULT_PREFIX) :])
        except json.JSONDecodeError as error:
            problems.append(f"not JSON ({error.msg}): {line.strip()[:120]}")
            continue
        if not isinstance(item, dict) or set(item) != set(FIELDS):
            problems.append(f"needs exactly {', '.join(FIELDS)}: {line.strip()[:120]}")
            continue
        # A figure without a target (target null) is shown for context, met null.
        met_ok = isinstance(item["met"], bool) or (item["met"] is None and item["target"] is None)
        number_ok = item["measured"] is None or isinstance(item["measured"], int | float)
        if not (met_ok and number_ok):
            problems.append(f"met must be true/false, measured a number: {line.strip()[:120]}")
            continue
        results.append(item)
    return results, problems


def format_measured(item: dict) -> str:
    measured = item["measured"]
    if measured is None:
        return "not measured"
    number = f"{measured:,.0f}" if abs(measured) >= 100 else f"{measured:.3g}"
    return f"{number} {item['unit']}".strip()


def table_rows(runs: list[BenchmarkRun]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for run in runs:
        bench = run.name.removesuffix(".py")
        for item in run.results:
            target = item["target"]
            if target is None:
                target = "-"
            else:
                shown = f"{target:,}" if isinstance(target, int | float) else str(target)
                target = f"{shown} {item['unit']}".strip()
            verdict = "-" if item["met"] is None else ("met" if item["met"] else "NOT met")
            rows.append((bench, item["figure"], format_measured(item), target, verdict))
        if run.failed:
            why = "; ".join(run.problems) or f"no RESULT lines (exit status {run.returncode})"
            rows.append((bench, "(the benchmark itself)", f"failed: {why}", "runs", "NOT met"))
    return rows


def render_text(rows: list[tuple[str, ...]]) -> str:
    header = ("bench", "figure", "measured", "target", "met")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    out = [line.format(*header), line.format(*("-" * width for width in widths))]
    out += [line.format(*row) for row in rows]
    return "\n".join(text.rstrip() for text in out)


def render_markdown(
    rows: list[tuple[str, ...]], machine: dict[str, str], runs: list[BenchmarkRun], quick: bool
) -> str:
    met = sum(1 for row in rows if row[4] == "met")
    judged = sum(1 for row in rows if row[4] != "-")
    out = ["# Benchmarks", ""]
    if quick:
        out += [
            "**Quick mode** (`bench/run.py --quick`): tiny sizes to check that the benchmarks",
            "run. These figures say nothing about the targets.",
            "",
        ]
    out += [
        f"`make bench` on {machine['date']}, commit `{machine['commit']}`: "
        f"{met} of {judged} targets met.",
        "",
        "| bench | figure | measured | target | met |",
        "|---|---|---|---|---|",
    ]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    out += ["", "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {key} | {value} |" for key, value in machine.items()]
    out += ["", "## Runs", ""]
    out += [
        f"- `bench/{run.name}`: {run.seconds:.0f} s, exit status {run.returncode}, "
        f"{len(run.results)} figures"
        + (f"; problems: {'; '.join(run.problems)}" if run.problems else "")
        for run in runs
    ]
    out += [
        "",
        "Each benchmark's own output (its full table, query plans, notes) is printed by",
        "`make bench`; the setups and targets are described at the top of each file in",
        "`bench/`. The database, Redis and the load generators share this one machine.",
        "",
    ]
    return "\n".join(out)


# --- The machine -------------------------------------------------------------------------


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1]
    except OSError:
        pass
    return "unknown"


def _command(*args: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def postgres_version() -> str:
    try:
        import psycopg

        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3
        ) as connection:
            return str(connection.execute("SHOW server_version").fetchone()[0])
    except Exception as error:  # the table still gets written
        return f"unavailable ({type(error).__name__})"


def redis_version() -> str:
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3)
        return str(client.info("server")["redis_version"])
    except Exception as error:
        return f"unavailable ({type(error).__name__})"


def machine_description() -> dict[str, str]:
    memory_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    memory = f"{int(memory_kb) / 1024 / 1024:.1f} GiB" if memory_kb.isdigit() else "unknown"
    commit = _command("git", "-C", str(BASE_DIR), "rev-parse", "--short=12", "HEAD")
    if _command("git", "-C", str(BASE_DIR), "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "CPU": _first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "RAM": memory,
        "OS": f"{_first('/etc/os-release', 'PRETTY_NAME=').strip(chr(34))}, "
        f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": postgres_version(),
        "Redis": redis_version(),
    }


# --- Running ---------------------------------------------------------------------------------


def run_benchmark(name: str, *, quick: bool, directory: Path = BASE_DIR / "bench") -> BenchmarkRun:
    """Run one benchmark, echoing its output, and collect its RESULT lines."""
    run = BenchmarkRun(name)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if quick:
        env["BENCH_QUICK"] = "1"
    print(f"\n=== bench/{name}{' (quick)' if quick else ''} ===", flush=True)
    started = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, str(directory / name), *(QUICK_ARGS.get(name, []) if quick else [])],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        limit = TIMEOUT_SECONDS[quick]

        def overrun() -> None:
            run.problems.append(f"stopped after {limit} s")
            process.terminate()  # each benchmark's SIGTERM handling cleans up after it

        timer = threading.Timer(limit, overrun)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                sys.stdout.write(line)
                lines.append(line)
            run.returncode = process.wait()
        finally:
            timer.cancel()
    run.seconds = time.monotonic() - started
    run.results, problems = parse_result_lines(lines)
    run.problems += problems
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and print one table.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (BENCH_QUICK=1)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--output", type=Path, help="where to write the Markdown table")
    args = parser.parse_args()

    runs = [run_benchmark(name, quick=args.quick) for name in (args.only or BENCHMARKS)]
    rows = table_rows(runs)
    machine = machine_description()
    print("\n=== All benchmarks ===")
    print(render_text(rows))
    output = args.output or (QUICK_OUTPUT if args.quick else OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_markdown(rows, machine, runs, args.quick))
    print(f"\nwrote {output.relative_to(BASE_DIR) if output.is_relative_to(BASE_DIR) else output}")
    return 1 if any(run.failed for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
