"""Surges: when a watch or an entity is suddenly everywhere. Plain functions over a small
state per key (a watch name, or an entity's Wikidata id), testable without Kafka.

Matching dispatches are counted in buckets of `step` seconds; a window is the last
`window / step` buckets (hopping windows: 1 h advancing by 5 min by default). A window's
count is compared with the trailing baseline, the counts of the `baseline_windows` windows
before it (stepping by one window): a surge starts when the count is at least `min_count`
and its z-score against the baseline is at least `z_threshold`, and it is said once. It ends
(re-arming the key) only when the z-score falls below `z_release`: a count hovering at the
threshold does not flap.

On Kafka: for each story the worker sees first, it publishes one sighting per watch it is on
and per entity among its most salient, keyed by the watch or entity, to its own sightings
topic; so every sighting of a key meets in one partition, whose owner counts them
(`count_sightings`) in states kept in a changelog (streams.worker.changelog_store): counts
survive a crash and a rebalance. Time is the dispatches' own (when published), so that a
replay at any pace counts as the wire did; the owner of a partition evaluates every key in
it each time the sightings' time crosses into a new bucket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import NormalDist

from pydantic import BaseModel, Field

from schemas import Alert, EnrichedDispatch, SurgeAlert, SurgeKind, surge_alert_id
from streams.settings import Settings

# Surge alerts carry the window's best stories, this many; a state keeps no more per bucket.
TOP_HEADLINES = 5
# A z-score past this is said as this (a count far beyond any baseline; JSON has no inf).
Z_CAP = 99.0
# A dispatch dated later than its reception by more than this is counted when received:
# one wrong date must not move the clock of a partition hours ahead.
FUTURE_SLACK_SECONDS = 300.0


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

    @classmethod
    def from_settings(cls, settings: Settings) -> SurgeSettings:
        return cls(step=settings.surge_step_seconds, window=settings.surge_window_seconds,
                   baseline_windows=settings.surge_baseline_windows,
                   z_threshold=settings.surge_z, min_count=settings.surge_min_count,
                   z_release=min(1.0, settings.surge_z / 2))

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


class HeadlineSeen(BaseModel):
    """One of the best stories of a key's current window."""

    story_id: str
    dispatch_id: str
    headline: str | None
    score: float
    at: float  # epoch seconds: when the dispatch was published


class KeyState(BaseModel):
    """Counts per bucket (bucket number -> count), whether a surge is on, and the bucket
    counting began in (no surge is said before a whole baseline was observed: an empty
    history is no evidence of calm). On Kafka also: what the key is, the last bucket
    evaluated, the stories counted in the current window (each is counted once, however
    often it is redelivered) and the window's best headlines."""

    since: int
    buckets: dict[int, int] = Field(default_factory=dict)
    surging: bool = False
    above: int = 0  # consecutive evaluations over the thresholds, not yet announced
    kind: SurgeKind = "watch"
    name: str = ""
    evaluated: int | None = None  # the last bucket evaluated
    counted: dict[str, int] = Field(default_factory=dict)  # story -> its bucket
    # The last sightings offset counted in: a sighting redelivered after a crash is not
    # counted again, however old (its story may have left `counted` long ago).
    offset: int = -1
    headlines: list[HeadlineSeen] = Field(default_factory=list)


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
    # One bucket more than a reading needs: the bucket evaluated is the one before the
    # newest (the newest is not complete yet).
    for old in [b for b in state.buckets if b <= newest - settings.buckets_kept - 1]:
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


def evaluate_until(key: str, state: KeyState, clock: int, settings: SurgeSettings
                   ) -> list[Surge]:
    """Evaluate `key` at every bucket before `clock` not evaluated yet (the buckets that are
    complete), in order; the surges that start."""
    first = clock - settings.buckets_kept  # older ones cannot change anything any more
    if state.evaluated is not None:
        first = max(first, state.evaluated + 1)
    surges = [surge for bucket in range(first, clock)
              if (surge := evaluate(key, state, bucket, settings)) is not None]
    state.evaluated = max(clock - 1, state.evaluated if state.evaluated is not None else -1)
    return surges


def is_idle(state: KeyState, clock: int, settings: SurgeSettings) -> bool:
    """Nothing counted in the buckets kept and no surge on: the state can go (a key seen
    again starts afresh, after the partition's observation start)."""
    return not state.surging and not any(
        count for bucket, count in state.buckets.items()
        if bucket > clock - settings.buckets_kept)


# --- On Kafka: sightings, and the states they change --------------------------------------


class Sighting(BaseModel):
    """One story on a key, as published to the sightings topic (keyed by `surge_key`)."""

    kind: SurgeKind
    key: str  # the watch's name, or the entity's Wikidata id
    name: str
    story_id: str
    dispatch_id: str
    headline: str | None
    score: float
    at: float  # epoch seconds: when the dispatch was published


def surge_key(kind: str, key: str) -> str:
    """The sightings topic's key: a watch and an entity never share one."""
    return f"{kind}/{key}"


def sightings_of(enriched: EnrichedDispatch, alerts: Iterable[Alert], first_seen: bool,
                 entities_per_dispatch: int) -> list[Sighting]:
    """What a processed dispatch adds to the counts: a sighting per watch whose alert on the
    story is new, and, for a story seen for the first time, per entity among its most
    salient with a Wikidata id. A later version of a story adds nothing (it is the same
    story), nor does a dispatch that was not analysed."""
    published = enriched.published_at or enriched.received_at
    at = min(published.timestamp(), enriched.received_at.timestamp() + FUTURE_SLACK_SECONDS)
    story = enriched.story_id or enriched.id
    headline = enriched.headline

    def sighting(kind: SurgeKind, key: str, name: str, score: float) -> Sighting:
        return Sighting(kind=kind, key=key, name=name, story_id=story,
                        dispatch_id=enriched.id, headline=headline, score=score, at=at)

    found = [sighting("watch", alert.topic, alert.topic, alert.score)
             for alert in alerts if alert.status == "new"]
    if first_seen:
        linked = [(e.wikidata_id, e.name) for e in enriched.entity_summary if e.wikidata_id]
        found += [sighting("entity", qid, name, 1.0)
                  for qid, name in linked[:entities_per_dispatch]]
    return found


def count_sighting(state: KeyState, sighting: Sighting, settings: SurgeSettings) -> bool:
    """Count a sighting once per story (a redelivered one changes nothing); False when it
    was counted already, or is too old to count."""
    bucket = bucket_of(sighting.at, settings)
    newest = max([bucket, *state.buckets])
    if sighting.story_id in state.counted or bucket <= newest - settings.buckets_kept:
        return False
    count(state, sighting.at, settings)
    state.counted[sighting.story_id] = bucket
    state.name = sighting.name
    state.headlines.append(HeadlineSeen(
        story_id=sighting.story_id, dispatch_id=sighting.dispatch_id,
        headline=sighting.headline, score=sighting.score, at=sighting.at))
    _keep_current(state, newest, settings)
    return True


def _keep_current(state: KeyState, newest: int, settings: SurgeSettings) -> None:
    """Forget what is older than the current window: counted stories (a story redelivered
    later than a window is not redelivered: it is a new dispatch) and headlines, of which
    each bucket keeps its best (whichever window is said, its best are among them)."""
    oldest = newest - settings.buckets_per_window
    state.counted = {story: b for story, b in state.counted.items() if b > oldest}
    by_bucket: dict[int, list[HeadlineSeen]] = {}
    for seen in state.headlines:
        bucket = bucket_of(seen.at, settings)
        if bucket > oldest:
            by_bucket.setdefault(bucket, []).append(seen)
    state.headlines = [seen for bucket in sorted(by_bucket)
                       for seen in _best(by_bucket[bucket])]


def _best(headlines: list[HeadlineSeen]) -> list[HeadlineSeen]:
    return sorted(headlines, key=lambda h: (-h.score, -h.at))[:TOP_HEADLINES]


@dataclass
class CountedBatch:
    """What a batch of sightings did to a partition's states: the states to write (None:
    forget the key), the surge alerts to publish, and the partition's clock after it."""

    changed: dict[str, KeyState | None]
    surges: list[SurgeAlert]
    clock: int | None
    # The changed keys whose state must be written; the others only moved on to a later
    # bucket evaluated, with nothing said (after a crash, evaluating those buckets again
    # gives the same: no need to write every key at every step).
    to_write: set[str] = field(default_factory=set)


def count_sightings(states: Mapping[str, KeyState],
                    sightings: Iterable[tuple[int, Sighting]], clock: int | None,
                    settings: SurgeSettings) -> CountedBatch:
    """Count a batch of sightings of one partition, with their offsets, into its states
    (keyed by `surge_key`; a sighting at or below a state's offset was counted before the
    last crash), in time order. Each time their time crosses into a new bucket, evaluate
    every key of the partition at the buckets completed, before counting on: a window is
    judged with the stories and headlines it had. `states` is not changed: the changed
    states are returned."""
    changed: dict[str, KeyState | None] = {}
    surges: list[SurgeAlert] = []

    def own(key: str) -> KeyState | None:
        """The batch's own copy of a key's state (the held one is not changed)."""
        if key not in changed:
            held = states.get(key)
            changed[key] = _copied(held) if held is not None else None
        return changed[key]

    def evaluate_all(until: int) -> None:
        for key in sorted({*states, *changed}):
            current = changed[key] if key in changed else states[key]
            if current is None or (current.evaluated is not None
                                   and current.evaluated >= until - 1):
                continue
            state = own(key)
            assert state is not None
            surges.extend(surge_alert(surge, state, settings)
                          for surge in evaluate_until(key, state, until, settings))
            if is_idle(state, until, settings):
                changed[key] = None

    started = min((s.since for s in states.values()), default=None)
    for offset, sighting in sorted(sightings, key=lambda pair: pair[1].at):
        key = surge_key(sighting.kind, sighting.key)
        bucket = bucket_of(sighting.at, settings)
        held = states.get(key)
        if held is not None and offset <= held.offset:
            continue  # redelivered (the batch's own offsets are above, in any time order)
        if clock is not None and bucket > clock:
            evaluate_all(bucket)
        clock = bucket if clock is None else max(clock, bucket)
        state = own(key)
        if state is None:
            # A key seen for the first time was silent since the partition's start.
            state = changed[key] = KeyState(
                since=started if started is not None else bucket, kind=sighting.kind,
                evaluated=bucket - 1)
        started = state.since if started is None else started
        count_sighting(state, sighting, settings)
        state.offset = max(state.offset, offset)
    if clock is not None:
        evaluate_all(clock)  # keys behind the clock (read back after a restart)
    # Keys only read (a sighting counted already) are not written again.
    unchanged = [key for key, state in changed.items()
                 if state is not None and key in states and state == states[key]]
    for key in unchanged:
        del changed[key]
    to_write = {key for key, state in changed.items()
                if state is None or key not in states
                or state.model_copy(update={"evaluated": states[key].evaluated})
                != states[key]}
    return CountedBatch(changed, surges, clock, to_write)


def _copied(state: KeyState) -> KeyState:
    """A copy to change (a deep copy costs ten times as much; headlines are not changed)."""
    return state.model_copy(update={"buckets": dict(state.buckets),
                                    "counted": dict(state.counted),
                                    "headlines": list(state.headlines)})


def surge_alert(surge: Surge, state: KeyState, settings: SurgeSettings,
                now: datetime | None = None) -> SurgeAlert:
    """The alert that says a surge of `state`'s key started."""
    end = datetime.fromtimestamp(surge.window_end, UTC)
    key = surge.key.split("/", 1)[1] if "/" in surge.key else surge.key
    window_start = surge.window_end - settings.window
    return SurgeAlert.model_validate({
        "alert_id": surge_alert_id(surge.key, end),
        "kind": state.kind,
        "key": key,
        "name": state.name or key,
        "count": surge.reading.count,
        "baseline_mean": surge.reading.baseline_mean,
        "baseline_spread": surge.reading.baseline_spread,
        "z_score": min(surge.reading.z, Z_CAP),
        "window_start": datetime.fromtimestamp(window_start, UTC),
        "window_end": end,
        "top_headlines": [
            {"story_id": h.story_id, "dispatch_id": h.dispatch_id, "headline": h.headline,
             "score": min(max(h.score, 0.0), 1.0),
             "published_at": datetime.fromtimestamp(h.at, UTC)}
            for h in _best([h for h in state.headlines
                            if window_start <= h.at < surge.window_end])],
        "alerted_at": now or datetime.now(UTC),
    })


def encode_key_state(state: KeyState) -> bytes:
    return state.model_dump_json(exclude_defaults=True).encode("utf-8")


def decode_key_state(raw: bytes) -> KeyState:
    return KeyState.model_validate_json(raw)
