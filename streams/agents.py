"""The Faust agents: read dispatches, run the pipeline's functions, publish what they return."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache

from faust.types import EventT, StreamT

from schemas.models import utc_now
from streams import metrics, topics
from streams.app import app
from streams.enrich import Enricher
from streams.entities import load_gazetteer
from streams.pipeline import (
    DEAD_LETTER_REASONS,
    REASON_PROCESSING_ERROR,
    InvalidDispatch,
    OutgoingRecord,
    SourcePosition,
    dead_letter_record,
    decode_dispatch,
    enriched_records,
)

logger = logging.getLogger(__name__)
settings = app.wirewatch_settings
_outputs = {t.get_topic_name(): t for t in (topics.enriched, topics.dead_letter,
                                            *topics.alerts.values())}
progress = metrics.PartitionProgress()


@lru_cache(maxsize=1)
def enricher() -> Enricher:
    """The process's enricher: the spaCy model and the rules, loaded once."""
    loaded = Enricher.from_settings(settings.spacy_model)
    metrics.BUILD_INFO.info({
        "spacy_model": settings.spacy_model,
        "spacy_model_version": str(loaded.nlp.meta.get("version", "unknown")),
        "gazetteer_version": load_gazetteer().version,
        "rules_versions": ",".join(f"{d.topic}={d.version}" for d in loaded.definitions),
    })
    return loaded


for _reason in DEAD_LETTER_REASONS:  # export every series at 0 rather than absent
    metrics.DEAD_LETTERS.labels(reason=_reason)
for _watched in topics.names.alerts:
    metrics.ALERTS_PUBLISHED.labels(topic=_watched)
for _stage in metrics.STAGES:
    metrics.STAGE_SECONDS.labels(stage=_stage)


def _observe_stage(stage: str, seconds: float) -> None:
    metrics.STAGE_SECONDS.labels(stage=stage).observe(seconds)


@dataclass(frozen=True)
class Outcome:
    """What one consumed message gives: the records to publish, and what they are."""

    records: list[OutgoingRecord]
    dead_letter_reason: str | None = None
    alert_scores: tuple[tuple[str, float], ...] = ()  # (watched topic, score) per alert


def records_for_event(event: EventT) -> Outcome:
    """What to publish for one consumed message, and its dead-letter reason if it has one."""
    message = event.message
    source = SourcePosition(message.topic, message.partition, message.offset,
                            int(message.timestamp * 1000) if message.timestamp else None)
    received_at = utc_now()
    try:
        began = time.perf_counter()
        dispatch = decode_dispatch(message.value)
        _observe_stage("validate", time.perf_counter() - began)
        [enriched] = enricher().enrich_many([(dispatch, received_at)], observe=_observe_stage)
    except InvalidDispatch as exc:
        return Outcome([dead_letter_record(settings.topic_dead_letter, message.key,
                                           message.value, source, exc.reason,
                                           exc.exception_class, exc.message)], exc.reason)
    except Exception as exc:  # the NLP step failing on one dispatch must not stop the stream
        logger.exception("enrichment failed for message at %s", source)
        return Outcome([dead_letter_record(settings.topic_dead_letter, message.key,
                                           message.value, source, REASON_PROCESSING_ERROR,
                                           type(exc).__name__, str(exc) or repr(exc))],
                       REASON_PROCESSING_ERROR)
    return Outcome(
        enriched_records(enriched, settings.topic_enriched, settings.alert_topic_prefix,
                         settings.top_entities_in_alert),
        alert_scores=tuple((match.topic, match.score) for match in enriched.topics))


async def _publish(records: list[OutgoingRecord]) -> None:
    for record in records:
        await _outputs[record.topic].send(
            key=record.key, value=record.value, headers=list(record.headers)
        )


def _count(outcome: Outcome, message_timestamp: float | None) -> None:
    if outcome.dead_letter_reason is not None:
        metrics.DEAD_LETTERS.labels(reason=outcome.dead_letter_reason).inc()
        return
    metrics.DISPATCHES_ENRICHED.inc()
    published_at = time.time()
    for topic, score in outcome.alert_scores:
        metrics.ALERTS_PUBLISHED.labels(topic=topic).inc()
        metrics.ALERT_SCORE.labels(topic=topic).observe(score)
        if message_timestamp:
            metrics.END_TO_END_SECONDS.observe(max(published_at - message_timestamp, 0.0))


@app.agent(topics.dispatches, name="wirewatch.process_dispatches")
async def process_dispatches(stream: StreamT) -> AsyncIterator[None]:
    """validate -> enrich -> classify -> publish the enriched dispatch and its alerts."""
    enricher()  # load the model before the first message, not during it
    async for event in stream.events():
        began = time.perf_counter()
        metrics.DISPATCHES_CONSUMED.inc()
        outcome = records_for_event(event)
        publish_began = time.perf_counter()
        await _publish(outcome.records)
        _observe_stage("publish", time.perf_counter() - publish_began)
        _count(outcome, event.message.timestamp)
        progress.processed(event.message.partition, event.message.offset, time.time())
        metrics.PROCESSING_SECONDS.observe(time.perf_counter() - began)
        yield None


@app.timer(interval=5.0)
async def export_partition_progress() -> None:
    """Lag and seconds since progress of each input partition this worker owns, so that a
    consumer that silently stops shows (a known failure mode of Faust consumers)."""
    owned = [tp for tp in app.consumer.assignment()
             if tp.topic == topics.names.dispatches]
    if not owned:
        metrics.export_partition_progress({})
        return
    highwaters = await app.consumer.highwaters(*owned)
    positions = {tp.partition: (await app.consumer.position(tp)) or 0 for tp in owned}
    metrics.export_partition_progress(progress.snapshot(
        [tp.partition for tp in owned], {tp.partition: hw for tp, hw in highwaters.items()},
        positions, time.time()))
