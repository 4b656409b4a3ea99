"""The Faust agents: read dispatches, run the pipeline's functions, publish what they return."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from functools import lru_cache

from faust.types import EventT, StreamT

from schemas.models import utc_now
from streams import metrics, topics
from streams.app import app
from streams.enrich import Enricher
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


@lru_cache(maxsize=1)
def enricher() -> Enricher:
    """The process's enricher: the spaCy model and the rules, loaded once."""
    loaded = Enricher.from_settings(settings.spacy_model)
    metrics.BUILD_INFO.info({
        "spacy_model": settings.spacy_model,
        "spacy_model_version": str(loaded.nlp.meta.get("version", "unknown")),
        "rules_versions": ",".join(f"{d.topic}={d.version}" for d in loaded.definitions),
    })
    return loaded


for _reason in DEAD_LETTER_REASONS:  # export every series at 0 rather than absent
    metrics.DEAD_LETTERS.labels(reason=_reason)
for _watched in topics.names.alerts:
    metrics.ALERTS_PUBLISHED.labels(topic=_watched)


async def _publish(records: list[OutgoingRecord]) -> None:
    for record in records:
        await _outputs[record.topic].send(
            key=record.key, value=record.value, headers=list(record.headers)
        )


def records_for_event(event: EventT) -> tuple[list[OutgoingRecord], str | None]:
    """What to publish for one consumed message, and its dead-letter reason if it has one."""
    message = event.message
    source = SourcePosition(message.topic, message.partition, message.offset,
                            int(message.timestamp * 1000) if message.timestamp else None)
    received_at = utc_now()
    try:
        dispatch = decode_dispatch(message.value)
        enriched = enricher().enrich(dispatch, received_at)
    except InvalidDispatch as exc:
        return [dead_letter_record(settings.topic_dead_letter, message.key, message.value,
                                   source, exc.reason, exc.exception_class, exc.message)], \
            exc.reason
    except Exception as exc:  # the NLP step failing on one dispatch must not stop the stream
        logger.exception("enrichment failed for message at %s", source)
        return [dead_letter_record(settings.topic_dead_letter, message.key, message.value,
                                   source, REASON_PROCESSING_ERROR, type(exc).__name__,
                                   str(exc) or repr(exc))], REASON_PROCESSING_ERROR
    return enriched_records(enriched, settings.topic_enriched, settings.alert_topic_prefix,
                            settings.top_entities_in_alert), None


@app.agent(topics.dispatches, name="wirewatch.process_dispatches")
async def process_dispatches(stream: StreamT) -> AsyncIterator[None]:
    """validate -> enrich -> classify -> publish the enriched dispatch and its alerts."""
    enricher()  # load the model before the first message, not during it
    async for event in stream.events():
        began = time.perf_counter()
        metrics.DISPATCHES_CONSUMED.inc()
        records, dead_letter_reason = records_for_event(event)
        await _publish(records)
        if dead_letter_reason is not None:
            metrics.DEAD_LETTERS.labels(reason=dead_letter_reason).inc()
        else:
            metrics.DISPATCHES_ENRICHED.inc()
            for record in records[1:]:
                metrics.ALERTS_PUBLISHED.labels(
                    topic=record.topic.removeprefix(settings.alert_topic_prefix)).inc()
        metrics.PROCESSING_SECONDS.observe(time.perf_counter() - began)
        yield None
