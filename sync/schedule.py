"""When an account is due again: its interval after a success, a growing back-off after a
failure, both with jitter so that accounts (and workers) do not fall into step.

The result is written to ``Account.next_run_at`` at the end of each run, in the
transaction that closes it: that column is the schedule every worker shares.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

#: how far a due time is moved at random, as a share of the wait (either way)
JITTER = 0.1
#: ... and at most this much (seconds), so a daily account is not hours off
MAX_JITTER = 60.0


@dataclass(frozen=True)
class Backoff:
    """How long to wait after the n-th failure in a row: ``first`` doubling up to ``cap``
    (seconds), or longer if the server asked for it."""

    first: float = 60.0
    cap: float = 3600.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds until the next try after ``failures`` failures in a row (no jitter)."""
        wait = min(self.first * 2 ** max(failures - 1, 0), self.cap)
        return max(wait, retry_after or 0.0)


def jittered(seconds: float) -> float:
    """``seconds`` moved by up to :data:`JITTER` of itself (at most :data:`MAX_JITTER`)."""
    spread = min(seconds * JITTER, MAX_JITTER)
    # spreading load, not a secret (S311)
    return max(seconds + random.uniform(-spread, spread), 0.0)  # noqa: S311


def next_due(
    now: datetime,
    interval: float,
    *,
    failures: int,
    backoff: Backoff,
    retry_after: float | None = None,
) -> datetime:
    """When to run an account next: ``interval`` after a success (``failures`` 0), else the
    back-off for ``failures`` in a row, never sooner than the server asked."""
    if failures == 0:
        return now + timedelta(seconds=jittered(interval))
    wait = jittered(backoff.delay(failures))
    return now + timedelta(seconds=max(min(wait, backoff.cap), retry_after or 0.0))
