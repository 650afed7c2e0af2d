"""What every benchmark prints for bench/run.py, besides its own table.

One line per figure with a target::

    RESULT {"figure": "intake max", "measured": 512.0, "unit": "req/s",
            "target": ">= 400", "met": true}

(on one line).

``BENCH_QUICK=1`` (``bench/run.py --quick``) asks each benchmark for small sizes:
seconds instead of minutes, to check that the benchmarks and the runner work,
not to judge the targets.
"""

from __future__ import annotations

import json
import math
import os

RESULT_PREFIX = "RESULT "


def quick_mode() -> bool:
    return os.environ.get("BENCH_QUICK", "").lower() not in ("", "0", "false", "no")


def result(*, figure: str, measured: float, unit: str, target: str, met: bool) -> None:
    """Print one figure for the runner. ``target`` is a comparison in ``unit``
    (``"<= 50"``, ``">= 400"``, ``"== 0"``); an unmeasurable figure is ``measured``
    NaN or infinite and is reported as null, never met."""
    finite = isinstance(measured, int | float) and math.isfinite(measured)
    line = {
        "figure": figure,
        "measured": round(float(measured), 3) if finite else None,
        "unit": unit,
        "target": target,
        "met": bool(met) and finite,
    }
    print(RESULT_PREFIX + json.dumps(line), flush=True)
