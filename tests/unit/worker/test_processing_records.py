"""Decoding raw messages (and why they are dead-lettered), dead-letter records, alerts."""

from __future__ import annotations

import json

import pytest

from schemas import Alert, Dispatch, EnrichedDispatch, alert_id_for
from schemas.models import MAX_BODY_CHARS
from streams.feeds.decode import InvalidDispatch, decode_dispatch
from streams.nlp.rules import watched_topics
from streams.worker.processing import (
    HEADER_EXCEPTION_CLASS,
    HEADER_EXCEPTION_MESSAGE,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    HEADER_TOPIC,
    OutputTopics,
    SourcePosition,
    dead_letter_record,
    enriched_records,
)
from streams.worker.stories import lead_sentence
from tests.helpers.dead_letters import spring_headers, text_headers


def good(**fields) -> bytes:
    return json.dumps({"id": "d1", "language": "fr", "body": "Texte.", **fields}).encode()


def test_valid_message_decodes():
    assert decode_dispatch(good()).id == "d1"


@pytest.mark.parametrize(
    ("raw", "reason", "says"),
    [
        (b"{not json", "invalid_json", "Invalid JSON"),
        (b"\xff\xfe\x00garbage", "invalid_utf8", "not UTF-8"),
        (b'["a", "list"]', "invalid_dispatch", "should be an object"),
        (b'{"id": "d1", "language": "fr"}', "invalid_dispatch", "body: Field required"),
        (good(published_at="not a date"), "invalid_dispatch", "published_at"),
        (good(body="x" * (MAX_BODY_CHARS + 1)), "too_large", "body"),
        (good(id="i" * 201), "invalid_dispatch", "id: String should have at most 200"),
        (good(headline="h" * 1001), "invalid_dispatch", "headline"),
        (b" " * (5 * 1024 * 1024), "too_large", "exceeds the limit"),
        (None, "invalid_json", "tombstone"),
    ],
)
def test_invalid_messages_get_a_reason_and_a_readable_message(raw, reason, says):
    with pytest.raises(InvalidDispatch) as raised:
        decode_dispatch(raw)
    assert raised.value.reason == reason
    assert says in raised.value.message


def test_dead_letter_keeps_the_original_bytes_and_says_where_from_and_why():
    source = SourcePosition("dispatches", 3, 42, 1_618_400_000_000)
    record = dead_letter_record("dispatches.dlq", b"k", b"{bad", source, "invalid_json",
                                "ValidationError", "Invalid JSON")
    assert (record.kafka_topic, record.key, record.value) == ("dispatches.dlq", b"k", b"{bad")
    assert text_headers(record.headers) == {
        HEADER_TOPIC: "dispatches", HEADER_PARTITION: "3", HEADER_OFFSET: "42",
        HEADER_EXCEPTION_CLASS: "ValidationError", HEADER_EXCEPTION_MESSAGE: "Invalid JSON",
        HEADER_REASON: "invalid_json",
    }


def test_dead_letter_carries_spring_kafka_headers_in_spring_binary_format():
    source = SourcePosition("dispatches", 3, 2**40 + 7, 1_618_400_000_000, timestamp_type=1)
    record = dead_letter_record("dispatches.dlq", b"k", b"{bad", source, "invalid_json",
                                "ValidationError", "Invalid JSON")
    assert spring_headers(record.headers) == {
        "kafka_dlt-original-topic": "dispatches",
        "kafka_dlt-original-partition": 3,
        "kafka_dlt-original-offset": 2**40 + 7,
        "kafka_dlt-original-timestamp": 1_618_400_000_000,
        "kafka_dlt-original-timestamp-type": "LogAppendTime",
        "kafka_dlt-exception-fqcn": "ValidationError",
        "kafka_dlt-exception-message": "Invalid JSON",
    }
    # The 8 raw bytes a Java ByteBuffer.putLong(1618400000000L) writes.
    assert dict(record.headers)["kafka_dlt-original-timestamp"] == bytes.fromhex(
        "00000178d0283800")


def test_enriched_dispatch_keyed_by_dispatch_id_and_one_alert_per_topic_keyed_by_alert_id(
        enricher, seed_dispatch):
    enriched = enricher.enrich(seed_dispatch)
    outputs = OutputTopics(enriched="dispatches.enriched", dead_letter="dispatches.dlq",
                           alerts={t: f"alerts.{t}" for t in watched_topics()},
                           top_entities_in_alert=5)
    records = enriched_records(enriched, outputs)
    assert [r.kafka_topic for r in records] == ["dispatches.enriched"] + [
        f"alerts.{m.topic}" for m in enriched.topics]
    assert records[0].key == seed_dispatch.id.encode()
    assert EnrichedDispatch.model_validate_json(records[0].value or b"") == enriched
    for record, match in zip(records[1:], enriched.topics, strict=True):
        alert = Alert.model_validate_json(record.value or b"")
        # A plain JSON dispatch is its own story: its alert ids are what they always were.
        assert alert.alert_id == alert_id_for(seed_dispatch.id, match.topic)
        assert record.key == alert.alert_id.encode()
        assert (alert.revision, alert.status) == (1, "new")
        assert (alert.topic, alert.score, alert.evidence) == (match.topic, match.score,
                                                              match.evidence)
        assert alert.dateline == seed_dispatch.dateline
        assert alert.headline and alert.headline.startswith("Le chef de la diplomatie")
        assert alert.entities == enriched.entity_summary[:5]


def test_lead_sentence_stands_in_for_a_missing_headline():
    assert lead_sentence("Première phrase. Deuxième phrase.") == "Première phrase."
    assert lead_sentence("x" * 300, limit=50).endswith("…")


def test_a_dead_letter_too_large_to_publish_keeps_its_start_and_says_so():
    source = SourcePosition("dispatches.raw", 0, 7, None)
    record = dead_letter_record("dlq", b"k", b"x" * 1000, source, "too_large", "E", "big",
                                max_value_bytes=100)
    headers = text_headers(record.headers)
    assert record.value == b"x" * 100
    assert headers["wirewatch.errors.value-truncated"] == "true"
    assert headers["wirewatch.errors.original-size"] == "1000"
    small = dead_letter_record("dlq", b"k", b"x" * 100, source, "too_large", "E", "big",
                               max_value_bytes=100)
    assert small.value == b"x" * 100 and "wirewatch.errors.value-truncated" not in dict(
        small.headers)


def test_an_agency_document_becomes_dispatches_keyed_by_story():
    from streams.worker.processing import ConsumedMessage, ingest_outcome
    from tests.helpers import SHARED

    raw = (SHARED / "samples" / "agency-formats" / "newsml-g2" / "dpa_with_dateline.xml"
           ).read_bytes()
    message = ConsumedMessage(b"file.xml", raw, SourcePosition("dispatches.raw", 0, 3, None))
    outcome = ingest_outcome(message, "dispatches", "dispatches.dlq")
    [record] = outcome.records
    dispatch = Dispatch.model_validate_json(record.value or b"")
    assert (outcome.format, outcome.dead_letter_reason) == ("newsml-g2", None)
    assert (record.kafka_topic, record.key) == ("dispatches", dispatch.story_id.encode())
    assert (dispatch.version, dispatch.signal, dispatch.urgency, dispatch.language) == (
        2, "update", 3, "de")


def test_an_unreadable_agency_document_is_dead_lettered_with_its_reason():
    from streams.feeds.agency import REASONS
    from streams.feeds.decode import DEAD_LETTER_REASONS
    from streams.worker.processing import HEADER_FORMAT, ConsumedMessage, ingest_outcome

    assert set(REASONS) <= set(DEAD_LETTER_REASONS), "every reason labels the metric"
    message = ConsumedMessage(b"k", b"<html><body>not news</body></html>",
                              SourcePosition("dispatches.raw", 0, 4, None))
    [letter] = ingest_outcome(message, "dispatches", "dispatches.dlq").records
    assert letter.kafka_topic == "dispatches.dlq" and letter.value == message.value
    assert text_headers(letter.headers)[HEADER_REASON] == "unsupported_format"
    declared = ConsumedMessage(b"k", b"{}", SourcePosition("dispatches.raw", 0, 5, None),
                               headers=((HEADER_FORMAT, b"ninjs"),))
    outcome = ingest_outcome(declared, "dispatches", "dispatches.dlq")
    assert outcome.format == "ninjs" and outcome.dead_letter_reason is not None
