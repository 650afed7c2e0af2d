"""Record keys: a secret pseudo-random number per person and per submission.

The funnel's rollups keep beside each count of people the sum of their record keys
(the cell key), so a report perturbs a count the same way however the cell is reached
(``intake.reports``); the write paths (``intake.services.rollups``) and the nightly
SQL rebuild (``intake.services.rollup_rebuild``) compute the same keys.
"""

from __future__ import annotations

import hashlib

from django.conf import settings


def record_key_salt() -> str:
    """The secret part of every record key, derived from SECRET_KEY (a new key changes
    every record key: the nightly rebuild then puts the rollups right)."""
    return hashlib.sha256(f"funnel-record-key:{settings.SECRET_KEY}".encode()).hexdigest()[:32]


RECORD_KEY_BITS = 20


def record_key(kind: str, pk: int) -> int:
    """A person's (``kind`` "lead") or a submission's secret pseudo-random key in
    [0, 2**RECORD_KEY_BITS). The SQL rebuild computes the same (md5 of the same text)."""
    digest = hashlib.md5(f"{record_key_salt()}:{kind}:{pk}".encode()).hexdigest()  # noqa: S324
    return int(digest[: RECORD_KEY_BITS // 4], 16)
