"""Entity watches on the seed dispatch, without Kafka: by Wikidata id and salience."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.nlp.entity_watch import EntityWatch, EntityWatches, match_entity_watch


def watch(**fields: object) -> EntityWatch:
    return EntityWatch.model_validate({"watch": "w", "version": "1", **fields})


@pytest.fixture(scope="module")
def seed_enriched(enricher, seed_dispatch):
    return enricher.enrich(seed_dispatch)


def test_an_entity_in_the_lead_matches_with_its_mentions_as_evidence(seed_enriched):
    match = match_entity_watch(watch(entities=["Q7184"]), seed_enriched)  # NATO
    assert match is not None and match.topic == "w" and match.salience == "lead"
    assert {e.rule for e in match.evidence} == {"entity:Q7184"}
    assert len(match.evidence) == 10  # every mention
    for evidence in match.evidence:
        assert seed_enriched.body[evidence.start:evidence.end] == evidence.text


def test_salience_decides(seed_enriched):
    biden = ["Q6279"]  # named twice, not in the lead
    assert match_entity_watch(watch(entities=biden), seed_enriched) is None
    assert match_entity_watch(watch(entities=biden, salience="mentions"), seed_enriched)
    assert match_entity_watch(watch(entities=biden, salience="mentions", min_mentions=3),
                              seed_enriched) is None
    # One of several ids is enough: a person and their office.
    assert match_entity_watch(watch(entities=["Q6279", "Q889"]), seed_enriched)


@pytest.mark.parametrize("bad", [{"entities": []}, {"entities": ["Biden"]},
                                 {"entities": ["Q1"], "salience": "often"},
                                 {"entities": ["Q1"], "colour": "red"}])
def test_invalid_entity_watches_are_refused(bad):
    with pytest.raises(ValidationError):
        watch(**bad)


def test_indexed_watches_match_as_each_watch_alone_in_their_order(seed_enriched):
    watches = [watch(watch="biden", version="2", entities=["Q6279"], salience="mentions"),
               watch(watch="absent", entities=["Q42"]),
               watch(watch="nato", version="3", entities=["Q7184"]),
               watch(watch="nato-headline", entities=["Q7184"], salience="headline"),
               watch(watch="either", entities=["Q42", "Q6279", "Q889"], salience="mentions")]
    expected = [m.model_copy(update={"watch_version": w.version}) for w in watches
                if (m := match_entity_watch(w, seed_enriched)) is not None]
    assert [m.topic for m in expected] == ["biden", "nato", "either"]
    assert EntityWatches(watches).matches(seed_enriched) == expected
    assert EntityWatches().matches(seed_enriched) == []
