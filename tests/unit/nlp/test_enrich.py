"""Enrichment with the real spaCy model: entities with offsets, topics, timestamps."""

from __future__ import annotations

from schemas import Dispatch


def test_seed_names_blinken_the_otan_and_afghanistan(enricher, seed_dispatch):
    enriched = enricher.enrich(seed_dispatch)
    found = {(e.text, e.label) for e in enriched.entities}
    assert {("Antony Blinken", "PER"), ("Otan", "ORG"), ("Afghanistan", "LOC")} <= found
    assert enriched.id == seed_dispatch.id and enriched.body == seed_dispatch.body
    assert enriched.enriched_at >= enriched.received_at
    assert enriched.topics[0].topic == "withdrawal"


def test_entity_offsets_point_into_their_field(enricher):
    dispatch = Dispatch(id="h1", language="fr", headline="Emmanuel Macron reçoit Olaf Scholz",
                        body="Le président français Emmanuel Macron a reçu à Paris le "
                             "chancelier allemand Olaf Scholz.")
    enriched = enricher.enrich(dispatch)
    assert {e.field for e in enriched.entities} == {"headline", "body"}
    for entity in enriched.entities:
        text = dispatch.headline if entity.field == "headline" else dispatch.body
        assert text is not None and text[entity.start:entity.end] == entity.text


def test_batch_gives_the_same_result_as_one_by_one(enricher, seed_dispatch):
    other = Dispatch(id="o1", language="fr", body="Le ministre Sergueï Lavrov était à Genève.")
    batch = enricher.enrich_many([(seed_dispatch, seed_dispatch.published_at),
                                  (other, seed_dispatch.published_at)])
    single = [enricher.enrich(d, seed_dispatch.published_at) for d in (seed_dispatch, other)]
    assert [b.entities for b in batch] == [s.entities for s in single]
    assert [b.topics for b in batch] == [s.topics for s in single]


def test_a_language_without_a_pipeline_is_not_analysed_by_the_french_one(enricher):
    from datetime import UTC, datetime

    from schemas import Dispatch

    german = Dispatch(id="de-1", language="de", body="Die Bundeswehr zieht ihre Truppen aus "
                      "Afghanistan ab, sagte Verteidigungsministerin Kramp-Karrenbauer.")
    french = Dispatch(id="fr-1", language="fr", body="Les troupes allemandes se retirent "
                      "d'Afghanistan, a annoncé Berlin.")
    received = datetime(2021, 4, 14, tzinfo=UTC)
    out = enricher.enrich_many([(german, received), (french, received)])
    assert [o.id for o in out] == ["de-1", "fr-1"], "in order"
    assert out[0].analysis == "unsupported_language"
    assert (out[0].entities, out[0].topics, out[0].entity_summary) == ([], [], [])
    assert out[0].body == german.body and out[0].language == "de"
    assert out[1].analysis == "complete" and out[1].entities
