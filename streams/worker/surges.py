"""Surges: when a watch or an entity is suddenly everywhere. Plain functions over a small
state per key (a watch name, or an entity's Wikidata id), testable without Kafka.

Matching dispatches are counted in buckets of `step` seconds; a window is the last
`window / step` buckets (hopping windows: 1 h advancing by 5 min by default). A window's
count is compared with the trailing baseline, the counts of the `baseline_windows` windows
before it (stepping by one window): a surge starts when the count is at least `min_count`
and its z-score against the baseline is at least `z_threshold`, and it is said once. It ends
(re-arming the key) only when the z-score falls below `z_release`: a count hovering at the
threshold does not flap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist


@dataclass(frozen=True)
class SurgeSettings:
    step: int = 300  # seconds a bucket covers
    window: int = 3600  # seconds a window covers (a multiple of step)
    baseline_windows: int = 24  # trailing windows the baseline is made of
    z_threshold: float = 3.0
    z_release: float = 1.0
    min_count: int = 10  # matching dispatches in the window, at least
    # Consecutive evaluations (steps) the condition must hold: a real surge lasts, a
    # fluctuation of a steady flow rarely outlives one step.
    confirm_steps: int = 2
    # The baseline's spread is at least this: a key that never matched has a standard
    # deviation of 0, and any count would be an infinite z-score.
    min_spread: float = 1.0

    def __post_init__(self) -> None:
        if self.window % self.step:
            raise ValueError("window must be a multiple of step")
        if not self.z_release < self.z_threshold:
            raise ValueError("z_release must be below z_threshold")

    @property
    def buckets_per_window(self) -> int:
        return self.window // self.step

    @property
    def buckets_kept(self) -> int:
        return self.buckets_per_window * (self.baseline_windows + 1)


@dataclass
class KeyState:
    """Counts per bucket (bucket number -> count), whether a surge is on, and the bucket
    counting began in (no surge is said before a whole baseline was observed: an empty
    history is no evidence of calm)."""

    since: int
    buckets: dict[int, int] = field(default_factory=dict)
    surging: bool = False
    above: int = 0  # consecutive evaluations over the thresholds, not yet announced


@dataclass(frozen=True)
class Reading:
    """Where a key stands at a bucket: its window's count, the baseline, the z-score."""

    count: int
    baseline_mean: float
    baseline_spread: float
    z: float


@dataclass(frozen=True)
class Surge:
    """A surge to announce: the key, the window it was seen in, and the numbers."""

    key: str
    window_end: int  # epoch seconds
    reading: Reading


def bucket_of(timestamp: float, settings: SurgeSettings) -> int:
    return int(timestamp // settings.step)


def count(state: KeyState, timestamp: float, settings: SurgeSettings) -> None:
    """Count one matching dispatch at `timestamp`, and forget buckets older than needed."""
    bucket = bucket_of(timestamp, settings)
    state.buckets[bucket] = state.buckets.get(bucket, 0) + 1
    newest = max(state.buckets)
    for old in [b for b in state.buckets if b <= newest - settings.buckets_kept]:
        del state.buckets[old]


def reading(state: KeyState, bucket: int, settings: SurgeSettings) -> Reading:
    """The window ending with `bucket`, against the windows before it."""
    per_window = settings.buckets_per_window

    def window_count(last: int) -> int:
        return sum(state.buckets.get(b, 0) for b in range(last - per_window + 1, last + 1))

    now = window_count(bucket)
    before = [window_count(bucket - per_window * n)
              for n in range(1, settings.baseline_windows + 1)]
    mean = sum(before) / len(before)
    spread = max(math.sqrt(sum((c - mean) ** 2 for c in before) / len(before)),
                 settings.min_spread)
    return Reading(now, mean, spread, surprise(now, mean, spread))


def surprise(observed: int, mean: float, spread: float) -> float:
    """How unusual `observed` is, as a z-score. Counts of independent events are Poisson: the
    z-score is the normal equivalent of the Poisson upper tail P(X >= observed) (a normal
    approximation takes a steady flow's fluctuations for surges: its tail is too thin). A
    baseline that varies more than a Poisson count (a day's rhythm) uses the plain z-score
    when it is the smaller."""
    rate = max(mean, 0.5)  # a key that never matched is still expected now and then
    tail = poisson_tail(observed, rate)
    poisson_z = -NormalDist().inv_cdf(tail) if 0.0 < tail < 1.0 else (
        math.inf if tail <= 0.0 else -math.inf)
    return min(poisson_z, (observed - mean) / spread) if spread > math.sqrt(rate) \
        else poisson_z


def poisson_tail(k: int, rate: float) -> float:
    """P(X >= k) for X ~ Poisson(rate)."""
    if k <= 0:
        return 1.0
    term = math.exp(-rate)
    below = term
    for i in range(1, k):
        term *= rate / i
        below += term
    return max(0.0, 1.0 - below)


def evaluate(key: str, state: KeyState, bucket: int, settings: SurgeSettings
             ) -> Surge | None:
    """The surge to announce for `key` at `bucket`, if one starts now (once per surge)."""
    if bucket - state.since < settings.buckets_kept - 1:
        return None  # still learning the baseline
    current = reading(state, bucket, settings)
    if state.surging:
        if current.z < settings.z_release:
            state.surging = False
        return None
    if current.count >= settings.min_count and current.z >= settings.z_threshold:
        state.above += 1
        if state.above >= settings.confirm_steps:
            state.surging, state.above = True, 0
            return Surge(key, (bucket + 1) * settings.step, current)
    else:
        state.above = 0
    return None
