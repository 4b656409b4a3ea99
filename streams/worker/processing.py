"""What the worker does with a batch of consumed messages, without Kafka: decode each into a
Dispatch (or a dead-letter reason), enrich the valid ones, and turn each enriched dispatch
into its records (the enriched dispatch, then the alerts its story's state gives; see
`streams.worker.stories`). The agent only moves bytes and story states in and out."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas import Alert, Dispatch, EnrichedDispatch
from schemas.models import utc_now
from streams.feeds.agency import AgencyDocumentError, read_agency_document
from streams.feeds.decode import (
    REASON_PROCESSING_ERROR,
    InvalidDispatch,
    decode_dispatch,
)
from streams.worker.stories import decode_state, encode_state, follow_story
from streams.worker.surges import sightings_of, surge_key

if TYPE_CHECKING:
    from streams.nlp.enrich import Enricher

logger = logging.getLogger(__name__)

# Dead-letter headers, twice: Kafka Connect's names with text values (readable with kcat -J)
# and Spring Kafka's (DeadLetterPublishingRecoverer), with its binary encodings, so that a
# Spring consumer reads them as it reads its own dead letters.
HEADER_TOPIC = "__connect.errors.topic"
HEADER_PARTITION = "__connect.errors.partition"
HEADER_OFFSET = "__connect.errors.offset"
HEADER_EXCEPTION_CLASS = "__connect.errors.exception.class.name"
HEADER_EXCEPTION_MESSAGE = "__connect.errors.exception.message"
HEADER_REASON = "wirewatch.errors.reason"
HEADER_VALUE_TRUNCATED = "wirewatch.errors.value-truncated"
HEADER_ORIGINAL_SIZE = "wirewatch.errors.original-size"
SPRING_TOPIC = "kafka_dlt-original-topic"  # UTF-8
SPRING_PARTITION = "kafka_dlt-original-partition"  # 4-byte big-endian int
SPRING_OFFSET = "kafka_dlt-original-offset"  # 8-byte big-endian long
SPRING_TIMESTAMP = "kafka_dlt-original-timestamp"  # 8-byte big-endian long, ms
SPRING_TIMESTAMP_TYPE = "kafka_dlt-original-timestamp-type"  # CreateTime or LogAppendTime
SPRING_EXCEPTION_FQCN = "kafka_dlt-exception-fqcn"  # UTF-8
SPRING_EXCEPTION_MESSAGE = "kafka_dlt-exception-message"  # UTF-8
# The binary ones, by struct format (what a reader needs to decode them).
SPRING_BINARY_HEADERS = {SPRING_PARTITION: ">i", SPRING_OFFSET: ">q", SPRING_TIMESTAMP: ">q"}
MAX_HEADER_MESSAGE_CHARS = 2000
# Kafka's record timestamp types, as aiokafka numbers them and Java names them.
TIMESTAMP_TYPES = {0: "CreateTime", 1: "LogAppendTime"}


@dataclass(frozen=True)
class SourcePosition:
    """Where a consumed message came from."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    timestamp_type: int = 0  # 0 = CreateTime, 1 = LogAppendTime


@dataclass(frozen=True)
class OutgoingRecord:
    """A record to publish: everything an agent needs to send it, nothing it must decide."""

    kafka_topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def dead_letter_record(
    dead_letter_topic: str,
    key: bytes | None,
    value: bytes | None,
    source: SourcePosition,
    reason: str,
    exception_class: str,
    message: str,
    max_value_bytes: int | None = None,
) -> OutgoingRecord:
    """The original key and value, unchanged, with headers saying where they came from and why
    they were rejected, so that they can be inspected and replayed.

    A value over `max_value_bytes` (one that arrived compressed, far over what the topics
    take uncompressed) keeps its first `max_value_bytes` only, with headers saying so and
    its original size: a dead letter that cannot be published would stop the worker."""
    message = message[:MAX_HEADER_MESSAGE_CHARS]
    texts = [
        (HEADER_TOPIC, source.topic),
        (HEADER_PARTITION, str(source.partition)),
        (HEADER_OFFSET, str(source.offset)),
        (HEADER_EXCEPTION_CLASS, exception_class),
        (HEADER_EXCEPTION_MESSAGE, message),
        (HEADER_REASON, reason),
        (SPRING_TOPIC, source.topic),
        (SPRING_EXCEPTION_FQCN, exception_class),
        (SPRING_EXCEPTION_MESSAGE, message),
    ]
    # An exception's text may hold lone surrogates (an OS error's surrogate-escaped file
    # name, say) that UTF-8 cannot encode: escape them rather than lose the dead letter.
    headers = [(name, text.encode("utf-8", "backslashreplace")) for name, text in texts]
    headers += [
        (SPRING_PARTITION, struct.pack(SPRING_BINARY_HEADERS[SPRING_PARTITION],
                                       source.partition)),
        (SPRING_OFFSET, struct.pack(SPRING_BINARY_HEADERS[SPRING_OFFSET], source.offset)),
    ]
    if source.timestamp_ms is not None:
        headers += [
            (SPRING_TIMESTAMP, struct.pack(SPRING_BINARY_HEADERS[SPRING_TIMESTAMP],
                                           source.timestamp_ms)),
            (SPRING_TIMESTAMP_TYPE,
             TIMESTAMP_TYPES.get(source.timestamp_type, "CreateTime").encode()),
        ]
    if value is not None and max_value_bytes is not None and len(value) > max_value_bytes:
        headers += [(HEADER_VALUE_TRUNCATED, b"true"),
                    (HEADER_ORIGINAL_SIZE, str(len(value)).encode())]
        value = value[:max_value_bytes]
    return OutgoingRecord(
        kafka_topic=dead_letter_topic,
        key=key,
        value=value,
        headers=tuple(headers),
    )


@dataclass(frozen=True)
class OutputTopics:
    """Where the outputs of a dispatch go."""

    enriched: str
    dead_letter: str
    alerts: Mapping[str, str]  # watched topic -> the Kafka topic of its alerts
    top_entities_in_alert: int
    max_dead_letter_value: int | None = None  # bytes of a value a dead letter keeps
    # The input topic, where a dispatch keyed other than by its story goes back, keyed by
    # it (None: processed where it is).
    rekey_to: str | None = None
    # The worker's sightings topic (streams.worker.surges), and how many of a story's most
    # salient entities it counts (None: no surges counted).
    surge_sightings: str | None = None
    surge_entities_per_dispatch: int = 0


def enriched_record(enriched: EnrichedDispatch, outputs: OutputTopics) -> OutgoingRecord:
    """The enriched dispatch, keyed by dispatch id."""
    return OutgoingRecord(outputs.enriched, enriched.id.encode("utf-8"),
                          enriched.to_json_bytes())


@dataclass(frozen=True)
class StoryOutcome:
    """What an enriched dispatch does to its story: alert records (keyed by alert id, so
    that the compacted alert topics keep each alert's latest revision) and the story state
    to remember (None: nothing to remember)."""

    records: list[OutgoingRecord]
    alerts: list[Alert]
    state: bytes | None


def story_outcome(enriched: EnrichedDispatch, held: bytes | None,
                  outputs: OutputTopics, now: float | None = None) -> StoryOutcome:
    """The alerts of `enriched` given its story's state as held (None: a story not seen),
    then its sightings for the surge counts; `now` (epoch seconds) stamps the new state, for
    its retention."""
    followed = follow_story(decode_state(held), enriched, outputs.top_entities_in_alert, now)
    records = [OutgoingRecord(outputs.alerts[alert.topic], alert.alert_id.encode("utf-8"),
                              alert.to_json_bytes()) for alert in followed.alerts]
    if outputs.surge_sightings is not None:
        records += [
            OutgoingRecord(outputs.surge_sightings,
                           surge_key(sighting.kind, sighting.key).encode("utf-8"),
                           sighting.model_dump_json().encode("utf-8"))
            for sighting in sightings_of(enriched, followed.alerts, held is None,
                                         outputs.surge_entities_per_dispatch)]
    return StoryOutcome(records, followed.alerts,
                        encode_state(followed.state) if followed.state is not None else None)


def enriched_records(enriched: EnrichedDispatch, outputs: OutputTopics) -> list[OutgoingRecord]:
    """The enriched dispatch and its alerts, as the first version of its story seen."""
    return [enriched_record(enriched, outputs), *story_outcome(enriched, None, outputs).records]


@dataclass(frozen=True)
class ConsumedMessage:
    """A message as consumed from the input topic: its bytes and where it came from."""

    key: bytes | None
    value: bytes | None
    source: SourcePosition
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What one consumed message gives: the records to publish, and what they are."""

    records: list[OutgoingRecord]
    dead_letter_reason: str | None = None
    enriched: EnrichedDispatch | None = None  # its alerts depend on its story's state
    rekeyed: bool = False  # sent back to the input topic keyed by its story
    not_analysed_language: str | None = None  # a language without an NLP pipeline


def _dead_letter(message: ConsumedMessage, outputs: OutputTopics, reason: str,
                 exception_class: str, text: str) -> Outcome:
    return Outcome([dead_letter_record(outputs.dead_letter, message.key, message.value,
                                       message.source, reason, exception_class, text,
                                       outputs.max_dead_letter_value)], reason)


def _enriched(enriched: EnrichedDispatch, outputs: OutputTopics) -> Outcome:
    return Outcome(
        [enriched_record(enriched, outputs)], enriched=enriched,
        not_analysed_language=enriched.language
        if enriched.analysis == "unsupported_language" else None)


def outcomes_for_messages(messages: Sequence[ConsumedMessage], enricher: Enricher,
                          outputs: OutputTopics,
                          observe: Callable[[str, float], None] | None = None
                          ) -> list[Outcome]:
    """What to publish for each consumed message of a batch: its enriched form and alerts,
    or a dead letter saying why not. Valid dispatches are enriched together; if that fails,
    one by one, so that one dispatch the NLP step cannot take does not sink the batch.
    `observe(stage, seconds)` receives the time of each stage, for metrics."""
    outcomes: list[Outcome | None] = [None] * len(messages)
    valid: list[tuple[int, Dispatch]] = []
    received_at = utc_now()
    for position, message in enumerate(messages):
        began = time.perf_counter()
        try:
            dispatch = decode_dispatch(message.value)
        except InvalidDispatch as exc:
            outcomes[position] = _dead_letter(message, outputs, exc.reason,
                                              exc.exception_class, exc.message)
        else:
            story_key = dispatch.story_id.encode("utf-8") if dispatch.story_id else None
            if outputs.rekey_to is not None and story_key not in (None, message.key):
                # A story's versions must meet on one partition, with its state (see
                # streams.worker.stories): a producer that keyed it otherwise is corrected.
                outcomes[position] = Outcome([OutgoingRecord(
                    outputs.rekey_to, story_key, message.value, message.headers)],
                    rekeyed=True)
            else:
                valid.append((position, dispatch))
        if observe is not None:
            observe("validate", time.perf_counter() - began)
    try:
        enriched = enricher.enrich_many([(d, received_at) for _, d in valid], observe=observe)
        for (position, _), item in zip(valid, enriched, strict=True):
            outcomes[position] = _enriched(item, outputs)
    except Exception:
        for position, dispatch in valid:
            try:
                outcomes[position] = _enriched(enricher.enrich(dispatch, received_at), outputs)
            except Exception as exc:  # the NLP step failing must not stop the stream
                logger.exception("enrichment failed for message at %s",
                                 messages[position].source)
                outcomes[position] = _dead_letter(messages[position], outputs,
                                                  REASON_PROCESSING_ERROR, type(exc).__name__,
                                                  str(exc) or repr(exc))
    return [outcome for outcome in outcomes if outcome is not None]


# The header a producer of the raw topic may name the document's format in.
HEADER_FORMAT = "wirewatch.format"


@dataclass(frozen=True)
class IngestOutcome:
    """What one agency document gives: the dispatches to publish (or its dead letter), its
    format, and the reasons of the items in it that carry no text."""

    records: list[OutgoingRecord]
    format: str  # "unknown" when it was not recognised
    dead_letter_reason: str | None = None
    skipped: tuple[str, ...] = ()


def ingest_outcome(message: ConsumedMessage, dispatches_topic: str,
                   dead_letter_topic: str, max_dead_letter_value: int | None = None
                   ) -> IngestOutcome:
    """An agency document from the raw topic as dispatches for the input topic, keyed by
    story (so that the versions of a story stay in order on one partition), or as a dead
    letter saying why it cannot be read."""
    declared = next((value.decode("utf-8", "replace").strip()
                     for name, value in message.headers if name == HEADER_FORMAT), None)
    try:
        document = read_agency_document(message.value or b"", declared)
    except AgencyDocumentError as exc:
        return IngestOutcome([dead_letter_record(
            dead_letter_topic, message.key, message.value, message.source, exc.reason,
            type(exc).__name__, exc.message, max_dead_letter_value)], exc.format or "unknown",
            exc.reason)
    dispatches, problems = document.dispatches, document.problems
    for problem in problems:
        logger.info("agency document at %s:%d@%d: item %s skipped: %s (%s)",
                    message.source.topic, message.source.partition, message.source.offset,
                    problem.item, problem.message, problem.reason)
    records = [OutgoingRecord(kafka_topic=dispatches_topic,
                              key=(dispatch.story_id or dispatch.id).encode("utf-8"),
                              value=dispatch.to_json_bytes())
               for dispatch in dispatches]
    return IngestOutcome(records, document.format, skipped=tuple(p.reason for p in problems))
