"""Settings of the benchmark's web server: production's, as ``config.settings`` reads
them with DJANGO_ENV=production (bench/intake.py gives it throwaway values, all on
127.0.0.1), plus two things only a benchmark wants:

- the bench-only URLs of the baselines (bench/baseline_urls.py);
- every throttle rate raised, so the load measures the work and not the 429s (the
  throttles still run and still count in Redis).
"""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import REST_FRAMEWORK

ROOT_URLCONF = "bench.baseline_urls"

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        scope: "100000000/hour" for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    },
}
