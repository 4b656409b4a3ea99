"""subscribe's filters on message values, without Kafka."""

from __future__ import annotations

import json

import click
import pytest

from streams.cli.subscribe import WikidataIdParam, names_entity


def value(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_an_entity_filter_matches_an_alert_or_an_enriched_dispatch_naming_it():
    wanted = frozenset({"Q7747", "Q159"})
    assert names_entity(value(entities=[{"name": "Poutine", "wikidata_id": "Q7747"}]), wanted)
    assert names_entity(value(entities=[], entity_summary=[{"wikidata_id": "Q159"}]), wanted)
    assert not names_entity(value(entities=[{"wikidata_id": "Q30"}]), wanted)
    assert not names_entity(value(entities=[{"name": "Poutine", "wikidata_id": None}]), wanted)
    for other in (None, b"", b"{not json", b"[1]", value(entities="Q7747"),
                  value(entities=["Q7747"])):
        assert not names_entity(other, wanted)


@pytest.mark.parametrize(("given", "taken"), [("Q7747", "Q7747"), ("q159", "Q159"),
                                              (" Q30 ", "Q30")])
def test_wikidata_ids_are_taken_in_either_case(given: str, taken: str):
    assert WikidataIdParam().convert(given, None, None) == taken


@pytest.mark.parametrize("given", ["Putin", "Q", "Q0", "Q12a", "P31", "7747"])
def test_anything_else_is_a_usage_error(given: str):
    with pytest.raises(click.BadParameter, match="not a Wikidata item id"):
        WikidataIdParam().convert(given, None, None)
