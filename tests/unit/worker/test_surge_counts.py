"""Surge counts as the worker keeps them, without Kafka: sightings of stories counted once
per story, batches that cross into a new bucket evaluated, states that survive a restart."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from schemas import EnrichedDispatch, EntitySummary
from streams.worker.stories import follow_story
from streams.worker.surges import (
    KeyState,
    Sighting,
    SurgeSettings,
    count_sightings,
    decode_key_state,
    encode_key_state,
    sightings_of,
    surge_key,
)

# Small windows, as the integration tests use: 1-minute buckets, 5-minute windows, 6 of them
# as the baseline (35 minutes before anything can be said).
SMALL = SurgeSettings(step=60, window=300, baseline_windows=6, min_count=5)
START = 1_700_000_000 - 1_700_000_000 % 60


def sighting(story: str, minute: float, key: str = "withdrawal", score: float = 0.5
             ) -> Sighting:
    return Sighting(kind="watch", key=key, name=key, story_id=story, dispatch_id=story,
                    headline=f"headline of {story}", score=score, at=START + minute * 60)


def feed(per_minute: list[int], restart_every: int | None = None, repeat: bool = False,
         seed: int = 5) -> tuple[list, dict[str, KeyState]]:
    """Sightings of `per_minute[i]` new stories in minute i, in one batch per minute; the
    surges said and the states at the end. `restart_every`: states written and read back
    (and the clock forgotten) every that many minutes, as a worker restarted from the
    changelog would; `repeat`: every batch delivered twice."""
    rng = random.Random(seed)
    states: dict[str, KeyState] = {}
    clock: int | None = None
    surges = []
    changelog: dict[str, bytes | None] = {}
    offsets = itertools.count()
    for minute, stories in enumerate(per_minute):
        batch = [(next(offsets), sighting(f"s{minute}-{n}", minute + rng.uniform(0, 0.99),
                                          score=rng.choice((0.5, 0.7, 0.9))))
                 for n in range(stories)]
        for _ in range(2 if repeat else 1):
            counted = count_sightings(states, batch, clock, SMALL)
            clock = counted.clock
            surges += counted.surges
            for key, state in counted.changed.items():
                if state is None:
                    states.pop(key, None)
                else:
                    states[key] = state
                if key in counted.to_write:
                    changelog[key] = encode_key_state(state) if state is not None else None
        if restart_every and minute % restart_every == restart_every - 1:
            # What the worker wrote, read back; the clock from it, as the agent does.
            states = {key: decode_key_state(raw) for key, raw in changelog.items() if raw}
            clock = max((s.evaluated + 1 for s in states.values()
                         if s.evaluated is not None), default=None)
    return surges, states


STEADY = [2] * 40
SPIKED = [2] * 40 + [15] + [2] * 6


def test_a_spike_is_said_once_with_its_count_baseline_and_best_headlines():
    surges, _ = feed(SPIKED)
    assert len(surges) == 1
    surge = surges[0]
    assert (surge.kind, surge.key) == ("watch", "withdrawal")
    # Confirmed one step after the spike's minute: the window ending at minute 42.
    assert surge.window_end == datetime.fromtimestamp(START + 42 * 60, UTC)
    assert surge.window_start == surge.window_end - timedelta(minutes=5)
    assert surge.count == 2 * 4 + 15 and surge.baseline_mean == 10.0
    assert surge.z_score >= 3
    scores = [h.score for h in surge.top_headlines]
    # The best of the window, though the minutes after it brought as good (ties: latest).
    assert len(scores) == 5 and scores == sorted(scores, reverse=True) and scores[0] == 0.9
    assert all(surge.window_start <= h.published_at < surge.window_end
               for h in surge.top_headlines)


def test_steady_flow_says_nothing():
    assert feed(STEADY * 3)[0] == []


def test_redelivered_sightings_are_counted_once():
    once, states_once = feed(SPIKED)
    twice, states_twice = feed(SPIKED, repeat=True)
    assert [s.count for s in twice] == [s.count for s in once] == [23]
    assert states_twice == states_once


def test_sightings_redelivered_long_after_are_not_counted_again():
    _, states = feed(SPIKED[:30])
    rng = random.Random(5)  # feed's: the same sightings, at the same offsets
    offsets = itertools.count()
    again = [(next(offsets), sighting(f"s{minute}-{n}", minute + rng.uniform(0, 0.99),
                                      score=rng.choice((0.5, 0.7, 0.9))))
             for minute, stories in enumerate(SPIKED[:30]) for n in range(stories)]
    counted = count_sightings(states, again, None, SMALL)
    assert counted.changed == {} and counted.surges == []


def test_states_read_back_after_a_restart_count_on_as_if_nothing_happened():
    uninterrupted, _ = feed(SPIKED)
    for every in (1, 7, 41):
        restarted, _ = feed(SPIKED, restart_every=every)
        assert [(s.alert_id, s.count) for s in restarted] == \
            [(s.alert_id, s.count) for s in uninterrupted], every


def test_a_whole_hour_in_one_batch_is_judged_as_minute_by_minute():
    rng = random.Random(5)
    everything = [sighting(f"s{minute}-{n}", minute + rng.uniform(0, 0.99),
                           score=rng.choice((0.5, 0.7, 0.9)))
                  for minute, stories in enumerate(SPIKED) for n in range(stories)]
    rng.shuffle(everything)  # dispatches of several partitions: not in time order
    one_batch = count_sightings({}, list(enumerate(everything)), None, SMALL).surges
    minute_by_minute, _ = feed(SPIKED)
    assert [(s.alert_id, s.count, s.top_headlines) for s in one_batch] == \
        [(s.alert_id, s.count, s.top_headlines) for s in minute_by_minute]


def test_a_key_without_sightings_is_forgotten_once_its_counts_are_old():
    states: dict[str, KeyState] = {}
    counted = count_sightings(states, [(0, sighting("a", 0)),
                                       (1, sighting("b", 0, key="other"))], None, SMALL)
    states = {k: v for k, v in counted.changed.items() if v is not None}
    later = [sighting(f"x{m}", m, key="other") for m in range(1, 40)]
    clock = counted.clock
    for offset, one in enumerate(later, start=2):
        counted = count_sightings(states, [(offset, one)], clock, SMALL)
        clock = counted.clock
        for key, state in counted.changed.items():
            if state is None:
                del states[key]
            else:
                states[key] = state
    assert surge_key("watch", "withdrawal") not in states
    assert surge_key("watch", "other") in states


def test_an_entity_first_seen_late_was_observed_silent_since_the_partition_began():
    # 40 minutes of one watch; then an entity nobody named is suddenly everywhere.
    states: dict[str, KeyState] = {}
    clock = None
    surges = []
    offsets = itertools.count()
    for minute in range(45):
        batch = [sighting(f"w{minute}-{n}", minute) for n in range(2)]
        if minute in (40, 41):
            batch += [Sighting(kind="entity", key="Q7184", name="OTAN", story_id=f"e{minute}-{n}",
                               dispatch_id=f"e{minute}-{n}", headline="OTAN", score=1.0,
                               at=START + minute * 60) for n in range(8)]
        counted = count_sightings(states, [(next(offsets), one) for one in batch], clock,
                                  SMALL)
        clock, surges = counted.clock, surges + counted.surges
        states.update({k: v for k, v in counted.changed.items() if v is not None})
    assert [(s.kind, s.key, s.name, s.count) for s in surges] == [("entity", "Q7184", "OTAN", 16)]


def enriched(story: str | None, version: int, published: datetime, received: datetime,
             topics: list[tuple[str, float]]) -> EnrichedDispatch:
    return EnrichedDispatch.model_validate({
        "id": f"{story}-v{version}", "language": "fr", "body": "Texte.", "headline": "Titre",
        "story_id": story, "version": version, "published_at": published,
        "received_at": received, "enriched_at": received, "entities": [],
        "entity_summary": [EntitySummary(name=n, label="ORG", wikidata_id=q, mentions=1,
                                         in_headline=False, in_lead=False)
                           for n, q in [("OTAN", "Q7184"), ("X", None), ("ONU", "Q1065"),
                                        ("UE", "Q458")]],
        "topics": [{"topic": t, "score": s, "evidence": []} for t, s in topics],
    })


def test_a_story_is_sighted_by_its_first_version_on_each_watch_and_top_entities():
    now = datetime(2021, 8, 15, 10, tzinfo=UTC)
    first = enriched("st", 1, now, now, [("withdrawal", 0.8)])
    followed = follow_story(None, first, 8)
    found = sightings_of(first, followed.alerts, True, 2)
    assert [(s.kind, s.key, s.score) for s in found] == [
        ("watch", "withdrawal", 0.8), ("entity", "Q7184", 1.0), ("entity", "Q1065", 1.0)]
    assert {s.story_id for s in found} == {"st"} and found[0].at == now.timestamp()
    # A later version counts only where it is new: the story is on russia-ukraine now.
    second = enriched("st", 2, now, now, [("withdrawal", 0.8), ("russia-ukraine", 0.6)])
    later = follow_story(followed.state, second, 8)
    assert [(s.kind, s.key) for s in sightings_of(second, later.alerts, False, 2)] == [
        ("watch", "russia-ukraine")]


def test_a_dispatch_dated_in_the_future_counts_when_it_was_received():
    now = datetime(2021, 8, 15, 10, tzinfo=UTC)
    wrong = enriched("st", 1, now + timedelta(days=2), now, [("withdrawal", 0.8)])
    found = sightings_of(wrong, follow_story(None, wrong, 8).alerts, True, 0)
    assert found[0].at == now.timestamp() + 300
