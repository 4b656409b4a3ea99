"""Pacing a replayed feed: a fixed rate, or the original spacing of the dispatches."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from schemas import Dispatch


def pacing_delays(dispatches: Sequence[Dispatch], rate: float | None,
                  speed: float | None) -> list[float]:
    """Seconds to wait before sending each dispatch: a fixed rate, or the original spacing of
    `published_at` divided by `speed` (no wait where times are missing or go backwards)."""
    if rate:
        return [0.0] + [1.0 / rate] * (len(dispatches) - 1) if dispatches else []
    if not speed:
        return [0.0] * len(dispatches)
    delays = [0.0]
    for previous, current in itertools.pairwise(dispatches):
        if previous.published_at and current.published_at:
            gap = (current.published_at - previous.published_at).total_seconds()
            delays.append(max(gap, 0.0) / speed)
        else:
            delays.append(0.0)
    return delays
