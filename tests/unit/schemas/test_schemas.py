"""Message schemas: validation a producer meets, and the exported JSON Schema files."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import Alert, Dispatch, EnrichedDispatch, alert_id_for
from schemas.export import EXPORTED_MODELS, render_schema, schema_id, schema_path
from schemas.models import MAX_BODY_CHARS
from seeds import SEED_FEED
from seeds.build import render_feed


@pytest.mark.parametrize("model", EXPORTED_MODELS, ids=lambda m: m.__name__)
def test_exported_json_schema_is_current(model):
    path = schema_path(model)
    assert path.exists(), f"{path} missing: run `make schemas`"
    assert path.read_text(encoding="utf-8") == render_schema(model), (
        f"{path} is stale: run `make schemas` and commit the result")


def test_every_exported_schema_has_its_own_stable_id():
    ids = [json.loads(schema_path(model).read_text(encoding="utf-8"))["$id"]
           for model in EXPORTED_MODELS]
    assert ids == [f"https://wirewatch.dev/schemas/{model.__name__}.schema.json"
                   for model in EXPORTED_MODELS]
    assert ids == [schema_id(model) for model in EXPORTED_MODELS]


def test_seed_feed_is_current():
    assert SEED_FEED.read_bytes() == render_feed(), "seeds/feed.jsonl is stale: run `make seeds`"


def test_json_schema_requires_what_the_model_requires():
    schema = json.loads(schema_path(Dispatch).read_text(encoding="utf-8"))
    assert set(schema["required"]) == {"id", "language", "body"}


def minimal(**fields):
    return {"id": "d1", "language": "fr", "body": "Texte.", **fields}


def test_minimal_dispatch_is_valid_and_round_trips_through_json():
    dispatch = Dispatch.model_validate(minimal(headline="Titre", agency="AFP",
                                               dateline={"city": "Kaboul"},
                                               published_at="2021-08-15T10:00:00+02:00"))
    assert Dispatch.model_validate_json(dispatch.to_json_bytes()) == dispatch


def test_unknown_fields_are_ignored_for_forward_compatibility():
    assert Dispatch.model_validate(minimal(labels=["withdrawal"])).id == "d1"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": "a\nb"}, "id"),
        ({"id": "\u200b"}, "id"),  # nothing that shows
        ({"agency": "AFP\u0007"}, "agency"),
        ({"dateline": {"city": "Kaboul\n"}}, "dateline"),
        ({"language": "French"}, "language"),
        ({"body": "   \n "}, "body"),  # only whitespace
        ({"body": "\u200b\u200c\ufeff"}, "body"),  # only zero-width characters
        ({"body": "x" * (MAX_BODY_CHARS + 1)}, "body"),
        ({"published_at": "2021-08-15T10:00:00"}, "published_at"),  # no timezone
        ({"published_at": "yesterday"}, "published_at"),
        ({"published_at": 1629014400}, "published_at"),  # a Unix time, not RFC 3339
        ({"dateline": "Kaboul"}, "dateline"),
    ],
)
def test_invalid_dispatches_are_rejected_naming_the_field(fields, field):
    with pytest.raises(ValidationError) as raised:
        Dispatch.model_validate(minimal(**fields))
    assert {error["loc"][0] for error in raised.value.errors()} == {field}


def test_alert_id_is_deterministic_per_dispatch_and_topic():
    assert alert_id_for("d1", "withdrawal") == alert_id_for("d1", "withdrawal")
    assert alert_id_for("d1", "withdrawal") != alert_id_for("d1", "iran-deal")
    assert alert_id_for("d1", "withdrawal") != alert_id_for("d2", "withdrawal")


def test_entity_offsets_must_be_ordered():
    with pytest.raises(ValidationError, match="end must be greater than start"):
        EnrichedDispatch.model_validate(minimal(
            entities=[{"text": "Kaboul", "label": "LOC", "start": 5, "end": 5}], topics=[],
            received_at="2021-08-15T10:00:00Z", enriched_at="2021-08-15T10:00:01Z"))


def test_topic_match_score_is_bounded():
    with pytest.raises(ValidationError):
        Alert.model_validate({
            "alert_id": "x", "topic": "withdrawal", "score": 1.5, "evidence": [],
            "dispatch_id": "d1", "headline": None, "entities": [],
            "alerted_at": "2021-08-15T10:00:00Z"})
