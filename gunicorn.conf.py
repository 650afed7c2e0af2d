"""Gunicorn reads this file from its working directory (the image's /app) on start.

With PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker writes its metric samples to
files there and /metrics sums them (config.metrics). The master empties the
directory before forking, so a restart does not add the last run's counts again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""):
        from prometheus_client import multiprocess

        # Drops the dead worker's live gauges; its counters stay in the sum.
        multiprocess.mark_process_dead(worker.pid)
