"""Surge detection without Kafka: a spike fires once, steady flow never, no flapping."""

from __future__ import annotations

import random

from streams.worker.surges import KeyState, SurgeSettings, bucket_of, count, evaluate

SETTINGS = SurgeSettings()
START = 1_700_000_000 - 1_700_000_000 % 300


def run(per_bucket: list[int], seed: int = 3) -> list[int]:
    """Feed `per_bucket[i]` matching dispatches into bucket i (at random times within it),
    evaluating after each bucket; the buckets where a surge was announced."""
    rng = random.Random(seed)
    state = KeyState(since=bucket_of(START, SETTINGS))
    fired = []
    for index, matches in enumerate(per_bucket):
        for _ in range(matches):
            count(state, START + index * 300 + rng.uniform(0, 299), SETTINGS)
        bucket = bucket_of(START + index * 300, SETTINGS)
        if evaluate("withdrawal", state, bucket, SETTINGS) is not None:
            fired.append(index)
    return fired


def steady(buckets: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice((0, 1, 1, 2)) for _ in range(buckets)]


def poisson(buckets: int, rate: float, seed: int) -> list[int]:
    """Independent arrivals at `rate` per bucket, as a wire's steady flow is."""
    rng = random.Random(seed)
    counts = []
    for _ in range(buckets):
        arrivals, elapsed = 0, rng.expovariate(rate)
        while elapsed < 1.0:
            arrivals += 1
            elapsed += rng.expovariate(rate)
        counts.append(arrivals)
    return counts


def test_steady_flow_never_fires():
    for seed in range(20):
        assert run(steady(400, seed), seed) == []
    # A day and a half of independent arrivals at 2.4, 12, 36 and 120 an hour. (Over much
    # longer runs z >= 3 does find rare fluctuations: 1 in 1000 steps at 36 an hour.)
    for seed, rate in enumerate((0.2, 1.0, 3.0, 10.0)):
        assert run(poisson(420, rate, seed), seed) == [], rate


def test_a_spike_fires_once_and_re_arms_after_it():
    flow = steady(400, 1)
    spiked = flow[:350] + [12] * 6 + flow[356:]
    fired = run(spiked)
    assert len(fired) == 1 and 351 <= fired[0] <= 353
    # Once the spike has left the window and the baseline, a second one fires again.
    later = spiked + steady(300, 2) + [12] * 6 + steady(50, 3)
    assert len(run(later)) == 2


def test_a_count_hovering_at_the_threshold_does_not_flap():
    flow = steady(350, 4) + [6, 2, 6, 2, 6, 2, 6, 2, 6, 2, 6, 2] * 3
    assert len(run(flow)) <= 1


def test_a_key_that_never_matched_needs_the_minimum_count():
    assert run([0] * 300 + [9, 0]) == []  # below min_count, however unusual
    assert run([0] * 300 + [10, 0]) == [301]


def test_nothing_is_said_before_a_whole_baseline_was_observed():
    learning = SETTINGS.buckets_kept - 1
    assert run([0] * (learning - 10) + [20] * 10) == []
    assert run([0] * learning + [20, 0]) == [learning + 1]


def test_old_buckets_are_forgotten():
    state = KeyState(since=bucket_of(START, SETTINGS))
    for index in range(1000):
        count(state, START + index * 300, SETTINGS)
    assert len(state.buckets) <= SETTINGS.buckets_kept + 1
