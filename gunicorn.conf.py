"""Gunicorn reads this file from its working directory (the image's /app) on start.

With PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker writes its metric samples to
files there and /metrics sums them (config.metrics). The master empties the
directory before forking, so a restart does not add the last run's counts again.

Access lines (``--access-logfile -``) go through config.access_log: one JSON line a
request with the route (the URL pattern), status and timing, never the path, query
string, referer, user agent or client address (signed-link tokens and UTM values).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Every gunicorn started from the repository (the image, compose, the benchmarks) logs
# through it; the access log itself is on where the command line asks (--access-logfile).
logger_class = "config.access_log.RedactingLogger"


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
