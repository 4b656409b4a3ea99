"""`watch test`'s comparison, without Kafka: on enriched dispatches, what a candidate adds
and removes against the live watch, and that it agrees with the worker's own output."""

from __future__ import annotations

from streams.nlp.entity_watch import EntityWatch
from streams.nlp.rules import RULES_DIR, load_definition
from streams.quality.watch_diff import compare_watches

LIVE = load_definition(RULES_DIR / "withdrawal.yaml")


def test_the_live_watch_against_itself_changes_nothing_and_agrees_with_the_worker(
        enricher, seed_dispatch):
    enriched = enricher.enrich(seed_dispatch)
    diff = compare_watches(LIVE, LIVE, [enriched])
    assert (diff.added, diff.removed, diff.kept, diff.read) == ([], [], 1, 1)
    # Without a live version, the candidate adds what the worker raised.
    [(dispatch, match)] = compare_watches(LIVE, None, [enriched]).added
    [worker_match] = [m for m in enriched.topics if m.topic == "withdrawal"]
    assert dispatch.id == enriched.id and match == worker_match


def test_a_stricter_candidate_removes_and_an_entity_watch_adds(enricher, seed_dispatch):
    enriched = enricher.enrich(seed_dispatch)
    strict = LIVE.model_copy(update={"threshold": 0.99})
    diff = compare_watches(strict, LIVE, [enriched])
    assert [d.id for d, _ in diff.removed] == [enriched.id] and diff.added == []
    nato = EntityWatch(watch="withdrawal", version="x", entities=["Q7184"])
    assert compare_watches(nato, None, [enriched]).added[0][1].salience == "lead"
