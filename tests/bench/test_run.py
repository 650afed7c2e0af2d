"""bench/run.py: the RESULT protocol, the one table, and the Markdown it writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import results
from bench.run import (
    BenchmarkRun,
    machine_description,
    parse_result_lines,
    render_markdown,
    render_text,
    run_benchmark,
    table_rows,
)


def line(**item) -> str:
    return "RESULT " + json.dumps(item) + "\n"


GOOD = {"figure": "intake max", "measured": 512.4, "unit": "req/s", "target": ">= 400", "met": True}


def test_only_result_lines_are_collected_and_bad_ones_are_named():
    collected, problems = parse_result_lines(
        [
            "bench: gunicorn on 127.0.0.1:4242\n",
            line(**GOOD),
            "figure  measured  target  met\n",
            "RESULT {not json\n",
            line(figure="no unit", measured=1, target="<= 2", met=True),
            line(**{**GOOD, "met": "yes"}),
            line(**{**GOOD, "measured": None, "met": False}),
            line(**{**GOOD, "target": None, "met": None}),
            line(**{**GOOD, "met": None}),
            "  RESULT indented lines are not results\n",
        ]
    )
    assert collected == [
        GOOD,
        {**GOOD, "measured": None, "met": False},
        {**GOOD, "target": None, "met": None},
    ]
    assert len(problems) == 4
    assert problems[0].startswith("not JSON")
    assert "needs exactly figure, measured, unit, target, met" in problems[1]
    assert problems[2].startswith("met must be true/false")


def test_one_table_has_every_figure_with_its_verdict_and_each_failed_benchmark():
    runs = [
        BenchmarkRun(
            "intake.py",
            0,
            30,
            [
                GOOD,
                {
                    **GOOD,
                    "figure": "p99",
                    "measured": 71.25,
                    "unit": "ms",
                    "target": "<= 50",
                    "met": False,
                },
            ],
        ),
        BenchmarkRun("notifications.py", 2, 5, []),
        BenchmarkRun(
            "reports.py",
            1,
            5,
            [
                {"figure": "bulk load", "measured": 12.5, "unit": "s", "target": None, "met": None},
                {
                    "figure": "leads loaded",
                    "measured": 20000,
                    "unit": "leads",
                    "target": 5000000,
                    "met": False,
                },
            ],
        ),
    ]
    rows = table_rows(runs)
    assert rows == [
        ("intake", "intake max", "512 req/s", ">= 400 req/s", "met"),
        ("intake", "p99", "71.2 ms", "<= 50 ms", "NOT met"),
        (
            "notifications",
            "(the benchmark itself)",
            "failed: no RESULT lines (exit status 2)",
            "runs",
            "NOT met",
        ),
        ("reports", "bulk load", "12.5 s", "-", "-"),
        ("reports", "leads loaded", "20,000 leads", "5,000,000 leads", "NOT met"),
    ]
    assert [run.failed for run in runs] == [False, True, False]
    text = render_text(rows).splitlines()
    assert text[0].split() == ["bench", "figure", "measured", "target", "met"]
    assert len(text) == 2 + len(rows)
    assert text[2].startswith("intake") and text[2].endswith("met")


def test_the_markdown_has_the_table_the_machine_and_says_when_it_is_quick():
    rows = [("intake", "intake max", "512 req/s", ">= 400 req/s", "met")]
    machine = {"date": "2026-11-28 04:00 UTC", "commit": "abc123", "CPU": "Some CPU"}
    runs = [BenchmarkRun("intake.py", 0, 30, [GOOD])]
    full = render_markdown(rows, machine, runs, quick=False)
    assert "| intake | intake max | 512 req/s | >= 400 req/s | met |" in full
    assert "1 of 1 targets met" in full
    assert "| CPU | Some CPU |" in full and "`abc123`" in full
    assert "Quick mode" not in full
    assert "**Quick mode**" in render_markdown(rows, machine, runs, quick=True)


def test_the_machine_is_described_with_every_field():
    machine = machine_description()
    expected = {"date", "commit", "CPU", "cores", "RAM", "OS", "Python", "PostgreSQL", "Redis"}
    assert set(machine) == expected
    assert machine["cores"].isdigit()
    assert machine["Python"].startswith("3.11")


def test_a_benchmark_runs_in_quick_mode_and_its_results_are_collected(tmp_path, capsys):
    script = tmp_path / "probe.py"
    repo = str(Path(results.__file__).resolve().parents[1])
    script.write_text(
        f"import sys\nsys.path.insert(0, {repo!r})\n"
        "from bench.results import quick_mode, result\n"
        "print('own table line')\n"
        "result(figure='quick?', measured=1.0 if quick_mode() else 0.0, unit='',"
        " target='== 1', met=quick_mode())\n"
    )
    run = run_benchmark("probe.py", quick=True, directory=tmp_path)
    assert run.returncode == 0 and not run.failed
    assert run.results == [
        {"figure": "quick?", "measured": 1.0, "unit": "", "target": "== 1", "met": True}
    ]
    assert "own table line" in capsys.readouterr().out


def test_a_figure_that_could_not_be_measured_is_null_and_not_met(capsys):
    results.result(figure="p99", measured=math.inf, unit="ms", target="<= 50", met=True)
    (printed,) = capsys.readouterr().out.splitlines()
    assert json.loads(printed.removeprefix("RESULT ")) == {
        "figure": "p99", "measured": None, "unit": "ms", "target": "<= 50", "met": False
    }  # fmt: skip


@pytest.mark.parametrize(("value", "quick"), [("1", True), ("", False), ("0", False)])
def test_quick_mode_follows_bench_quick(monkeypatch, value, quick):
    monkeypatch.setenv("BENCH_QUICK", value)
    assert results.quick_mode() is quick
