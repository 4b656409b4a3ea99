"""The Faust agents: read dispatches, run the pipeline's functions, publish what they return."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, cast, get_args

from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from faust import Stream
from faust.types import TP, EventT, StreamT

from schemas import AlertStatus
from streams.clients.kafka import ensure_topics, read_records, start_consumer
from streams.clients.watches import seed_watches
from streams.feeds.decode import DEAD_LETTER_REASONS
from streams.nlp.enrich import Enricher
from streams.nlp.gazetteer_files import load_gazetteer
from streams.nlp.watch_book import WatchBook
from streams.worker import metrics, topics
from streams.worker.app import app
from streams.worker.changelog_store import ChangelogStore
from streams.worker.processing import (
    ConsumedMessage,
    Outcome,
    OutgoingRecord,
    OutputTopics,
    SourcePosition,
    StoryOutcome,
    ingest_outcome,
    outcomes_for_messages,
    story_outcome,
)
from streams.worker.stories import is_quiet, story_of
from streams.worker.surges import (
    KeyState,
    Sighting,
    SurgeSettings,
    count_sightings,
    decode_key_state,
    encode_key_state,
    reading,
)

logger = logging.getLogger(__name__)
settings = app.wirewatch_settings
# Room for a dead letter's key and headers within the largest message the topics take.
HEADROOM_BYTES = 64 * 1024
_outputs = {t.get_topic_name(): t for t in (topics.dispatches, topics.enriched,
                                            topics.dead_letter, topics.surge_sightings,
                                            *topics.alerts.values())}
OUTPUTS = OutputTopics(enriched=topics.names.enriched, dead_letter=topics.names.dead_letter,
                       alerts=topics.names.alerts,
                       top_entities_in_alert=settings.top_entities_in_alert,
                       max_dead_letter_value=settings.max_message_bytes - HEADROOM_BYTES,
                       rekey_to=topics.names.dispatches,
                       surge_sightings=topics.names.surge_sightings
                       if settings.surges else None,
                       surge_entities_per_dispatch=settings.surge_entities_per_dispatch)
progress = metrics.PartitionProgress()
STORY_RETENTION_SECONDS = settings.story_retention_days * 86_400


def _story_unless_quiet(raw: bytes, now: float) -> bytes | None:
    return None if is_quiet(raw, now, STORY_RETENTION_SECONDS) else raw


stories = ChangelogStore(settings, settings.story_changelog_topic, _story_unless_quiet)
SURGES = SurgeSettings.from_settings(settings)
surge_counts = ChangelogStore(settings, settings.surge_changelog_topic,
                              lambda raw, now: decode_key_state(raw))
surge_clocks: dict[int, int] = {}  # sightings partition -> its newest bucket


@app.on_partitions_revoked.connect
async def forget_revoked_states(sender: Any, /, *args: Any, signal: Any = None,
                                **kwargs: Any) -> None:
    """Another worker may own these partitions next, and change their stories and counts.
    Faust sends the revoked partitions as the signal's one argument."""
    revoked: set[TP] = args[0] if args else kwargs.get("revoked", set())
    stories.forget(tp.partition for tp in revoked if tp.topic == topics.names.dispatches)
    sightings = [tp.partition for tp in revoked if tp.topic == topics.names.surge_sightings]
    for partition, states in surge_counts.forget(sightings).items():
        surge_clocks.pop(partition, None)
        for key in states:  # their next owner reports them
            _drop_surge_gauges(key)


# One thread runs the NLP: spaCy is not shared across threads, and one is what a worker has.
_nlp_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wirewatch-nlp")


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
    for _status in get_args(AlertStatus):
        metrics.ALERTS_PUBLISHED.labels(topic=_watched, status=_status)
for _stage in metrics.STAGES:
    metrics.STAGE_SECONDS.labels(stage=_stage)


async def load_model() -> None:
    """Load the model and rules in the NLP thread (once per process)."""
    await asyncio.get_running_loop().run_in_executor(_nlp_thread, enricher)


# --- Watches: the definitions on the watches topic, followed while the worker runs --------

watch_book = WatchBook()


async def apply_watches() -> None:
    """Apply the watches in force: their alert topics first (created, ready to send to),
    then the classifier, from the next batch on. A removed watch's alert topic stays known:
    its stories' alerts are still retracted there."""
    wanted = {name: settings.alert_topic(name) for name in watch_book.watches}
    new = {name: topic for name, topic in wanted.items() if topic not in _outputs}
    if new:
        await ensure_topics(settings, list(new.values()))
        for name, topic in new.items():
            _outputs[topic] = app.topic(topic, value_type=bytes)
            for status in get_args(AlertStatus):
                metrics.ALERTS_PUBLISHED.labels(topic=name, status=status)
        topics.names.alerts.update(new)  # OUTPUTS.alerts is this mapping
    enricher().apply_watches(watch_book.topic_definitions(), watch_book.entity_watches())
    metrics.WATCHES_IN_FORCE.set(len(watch_book.watches))
    logger.info("watches in force: %s", ", ".join(
        f"{name}={version}" for name, version in watch_book.versions().items()))


def _read_watches(records: Iterable[ConsumerRecord]) -> bool:
    """Apply records of the watches topic to the book; True when the watches changed."""
    changed = False
    for record in records:
        changed |= watch_book.apply(record.key, record.value,
                                    f"{record.topic}[{record.partition}]@{record.offset}")
    return changed


async def warm_up() -> None:
    """Before the worker joins its group: the model, and the watches in force (the shipped
    definitions seed an empty watches topic)."""
    await load_model()
    seeded = await seed_watches(settings)
    if seeded:
        logger.info("seeded the watches topic with the shipped definitions: %s",
                    ", ".join(seeded))
    _read_watches(await read_records(settings, [settings.topic_watches]))
    await apply_watches()


app.warm_up = warm_up


@app.task
async def follow_watches() -> None:
    """Apply added, changed and removed watches while the worker runs (within a second or
    two of their publication)."""
    # From the beginning (a compacted topic is small): nothing published since the warm-up
    # read it is missed; what is unchanged changes nothing.
    consumer = await start_consumer(settings, [settings.topic_watches], from_beginning=True)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            refused_before = dict(watch_book.refused)
            changed = _read_watches(r for records in batches.values() for r in records)
            for name, why in watch_book.refused.items():
                if refused_before.get(name) != why:
                    metrics.WATCHES_REFUSED.labels(watch=name).inc()
            if changed:
                await apply_watches()
    finally:
        await consumer.stop()


def _observe_stage(stage: str, seconds: float) -> None:
    metrics.STAGE_SECONDS.labels(stage=stage).observe(seconds)


def _consumed(event: EventT) -> ConsumedMessage:
    message = event.message
    return ConsumedMessage(message.key, message.value, SourcePosition(
        message.topic, message.partition, message.offset,
        int(message.timestamp * 1000) if message.timestamp else None,
        message.timestamp_type or 0), _headers(message.headers))


def _headers(headers: object) -> tuple[tuple[str, bytes], ...]:
    """Faust hands headers as a list of pairs or as a mapping: pairs, either way."""
    if isinstance(headers, Mapping):
        return tuple(headers.items())
    return tuple(cast(Iterable[tuple[str, bytes]], headers or ()))


def outcomes_for_events(events: Sequence[EventT]) -> list[Outcome]:
    """What to publish for each consumed event of a batch (see `outcomes_for_messages`)."""
    return outcomes_for_messages([_consumed(event) for event in events], enricher(),
                                 OUTPUTS, observe=_observe_stage)


async def _publish(records: list[OutgoingRecord]) -> list[Awaitable[object]]:
    """Hand `records` to the producer, in order; what each send gives, to await its
    delivery."""
    return [await _outputs[record.kafka_topic].send(
        key=record.key, value=record.value, headers=list(record.headers))
        for record in records]


def _count(outcome: Outcome, story: StoryOutcome | None,
           message_timestamp: float | None) -> None:
    if outcome.dead_letter_reason is not None:
        metrics.DEAD_LETTERS.labels(reason=outcome.dead_letter_reason).inc()
        return
    if outcome.rekeyed:
        metrics.DISPATCHES_REKEYED.inc()
        return
    metrics.DISPATCHES_ENRICHED.inc()
    if outcome.not_analysed_language is not None:
        metrics.NOT_ANALYSED.labels(language=outcome.not_analysed_language).inc()
    published_at = time.time()
    for alert in story.alerts if story is not None else ():
        metrics.ALERTS_PUBLISHED.labels(topic=alert.topic, status=alert.status).inc()
        if alert.status != "retracted":
            metrics.ALERT_SCORE.labels(topic=alert.topic).observe(alert.score)
        if message_timestamp:
            metrics.END_TO_END_SECONDS.observe(max(published_at - message_timestamp, 0.0))


async def _publish_with_story(event: EventT, outcome: Outcome) -> StoryOutcome | None:
    """Publish what an event gives; for an enriched dispatch, with the alerts its story's
    state gives, then remember the new state. Each event in turn, so that two versions of a
    story in one batch see each other.

    The state is written once its alerts are delivered: a crash at any point then leaves a
    state that the redelivered versions turn into the same alerts, with the same revisions
    (never a revision skipped because the state moved on without it)."""
    if outcome.enriched is None:
        await _publish(outcome.records)
        return None
    key = story_of(outcome.enriched)
    partition = event.message.partition
    # A dispatch without a story id is its own and only version: no state is kept for it.
    states = await stories.states(partition) if outcome.enriched.story_id else {}
    story = story_outcome(outcome.enriched, states.get(key), OUTPUTS, time.time())
    sent = await _publish(outcome.records + story.records)
    if story.state is not None:
        if story.records:
            await asyncio.gather(*sent[len(outcome.records):])
        states[key] = story.state
        await topics.story_changelog.send(key=key.encode("utf-8"), value=story.state,
                                          partition=partition)
    return story


async def _handle_batch(loop: asyncio.AbstractEventLoop, events: Sequence[EventT]) -> None:
    began = time.perf_counter()
    metrics.DISPATCHES_CONSUMED.inc(len(events))
    # The model works in its own thread: the event loop keeps serving heartbeats,
    # commits and /metrics meanwhile.
    outcomes = await loop.run_in_executor(_nlp_thread, outcomes_for_events, events)
    for event, outcome in zip(events, outcomes, strict=True):
        publish_began = time.perf_counter()
        story = await _publish_with_story(event, outcome)
        _observe_stage("publish", time.perf_counter() - publish_began)
        _count(outcome, story, event.message.timestamp)
        progress.processed(event.message.partition, event.message.offset, time.time())
    per_message = (time.perf_counter() - began) / len(events)
    for _ in events:
        metrics.PROCESSING_SECONDS.observe(per_message)


async def finish_despite_cancellation(work: Awaitable[None]) -> None:
    """Run `work` to its end even if the caller is cancelled meanwhile, then re-raise the
    cancellation. Faust cancels agents when a worker stops, and `take_events` acks a batch's
    events once the agent lets go of them: a batch cut short would be committed with some of
    its outputs never published, that is, lost."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()  # the work's own exception, if any
    if cancelled:
        raise asyncio.CancelledError


@app.agent(topics.dispatches, name="wirewatch.process_dispatches")
async def process_dispatches(stream: StreamT) -> AsyncIterator[None]:
    """validate -> enrich -> classify -> publish the enriched dispatches and their alerts,
    in batches (offsets are acknowledged once a batch is published)."""
    loop = asyncio.get_running_loop()
    await load_model()  # done already by the app's warm-up: a no-op then
    # take_events is on Faust's Stream, not on the StreamT protocol agents are typed with.
    batches = cast(Stream, stream).take_events(settings.batch_size, within=settings.batch_within)
    async for events in batches:
        await finish_despite_cancellation(_handle_batch(loop, events))
        yield None


async def _ingest(loop: asyncio.AbstractEventLoop, event: EventT) -> None:
    # Parsing a large document takes a while: off the event loop, like the NLP.
    outcome = await loop.run_in_executor(
        None, ingest_outcome, _consumed(event), topics.names.dispatches,
        topics.names.dead_letter, OUTPUTS.max_dead_letter_value)
    await _publish(outcome.records)
    metrics.AGENCY_DOCUMENTS.labels(format=outcome.format).inc()
    for reason in outcome.skipped:
        metrics.AGENCY_ITEMS_SKIPPED.labels(reason=reason).inc()
    if outcome.dead_letter_reason is not None:
        metrics.DEAD_LETTERS.labels(reason=outcome.dead_letter_reason).inc()


@app.agent(topics.raw, name="wirewatch.ingest_agency_documents")
async def ingest_agency_documents(stream: StreamT) -> AsyncIterator[None]:
    """agency document -> dispatches on the input topic (or a dead letter), one document at
    a time (its offset is acknowledged once what it gave is published)."""
    loop = asyncio.get_running_loop()
    async for event in cast(Stream, stream).events():
        await finish_despite_cancellation(_ingest(loop, event))
        yield None


# --- Surges: sightings counted per watch and entity, surges announced --------------------


def _sightings(events: Sequence[EventT]) -> dict[int, list[tuple[int, Sighting]]]:
    """The batch's sightings with their offsets, by partition (a record that is not one is
    logged and skipped: only the workers write the topic)."""
    by_partition: dict[int, list[tuple[int, Sighting]]] = {}
    for event in events:
        try:
            sighting = Sighting.model_validate_json(event.message.value or b"")
        except ValueError as exc:
            logger.error("not a sighting at %s[%d]@%d, skipped: %s", event.message.topic,
                         event.message.partition, event.message.offset, exc)
            continue
        by_partition.setdefault(event.message.partition, []).append(
            (event.message.offset, sighting))
    return by_partition


def _drop_surge_gauges(key: str) -> None:
    """Stop reporting a key (`kind/key`): forgotten, or another worker counts it now."""
    kind, short = key.split("/", 1)
    for gauge in (metrics.SURGE_WINDOW_COUNT, metrics.SURGE_BASELINE):
        with contextlib.suppress(KeyError):  # not reported
            gauge.remove(kind, short)


def _export_surge_gauges(key: str, state: KeyState | None, clock: int) -> None:
    """Current count and baseline of a watch; of an entity only while it counts."""
    current = reading(state, clock - 1, SURGES) if state is not None else None
    if current is None or state is None or (
            state.kind == "entity" and current.count < SURGES.min_count
            and not state.surging):
        _drop_surge_gauges(key)
        return
    short = key.split("/", 1)[1]
    metrics.SURGE_WINDOW_COUNT.labels(kind=state.kind, key=short).set(current.count)
    metrics.SURGE_BASELINE.labels(kind=state.kind, key=short).set(current.baseline_mean)


async def _count_surges(events: Sequence[EventT]) -> None:
    """Count a batch of sightings, partition by partition: the surges they start are
    delivered before the counts that follow them are written (a crash in between gives the
    same surge alert again, same id, never none)."""
    for partition, sightings in _sightings(events).items():
        held = await surge_counts.states(partition)
        if partition not in surge_clocks and held:  # read back: resume where counting was
            surge_clocks[partition] = max(
                (s.evaluated + 1 for s in held.values() if s.evaluated is not None),
                default=0)
        before = surge_clocks.get(partition)
        counted = count_sightings(held, sightings, before, SURGES)
        if counted.clock is not None:
            surge_clocks[partition] = counted.clock
        # The gauges show the last complete window: it only moves when the clock does.
        advanced_to = counted.clock if counted.clock != before else None
        sent = [await topics.surge_alerts.send(key=alert.alert_id.encode("utf-8"),
                                               value=alert.to_json_bytes())
                for alert in counted.surges]
        await asyncio.gather(*sent)
        for alert in counted.surges:
            metrics.SURGES.labels(kind=alert.kind).inc()
            logger.info("surge: %s %s, %d stories in the window to %s (baseline %.1f, z %.1f)",
                        alert.kind, alert.name, alert.count, alert.window_end.isoformat(),
                        alert.baseline_mean, alert.z_score)
        for key, state in counted.changed.items():
            if state is None:
                held.pop(key, None)
            else:
                held[key] = state
            if key in counted.to_write:
                await topics.surge_changelog.send(
                    key=key.encode("utf-8"), partition=partition,
                    value=encode_key_state(state) if state is not None else None)
            if advanced_to is not None:
                _export_surge_gauges(key, state, advanced_to)


@app.agent(topics.surge_sightings, name="wirewatch.count_surges")
async def count_surges(stream: StreamT) -> AsyncIterator[None]:
    """sightings (one per story on a watch or an entity) -> counts per hopping window ->
    a surge alert when a window stands out from its baseline, once per surge."""
    batches = cast(Stream, stream).take_events(settings.batch_size * 8,
                                              within=settings.batch_within)
    async for events in batches:
        await finish_despite_cancellation(_count_surges(events))
        yield None


@app.timer(interval=3600.0)
async def forget_quiet_stories() -> None:
    """Drop the states of stories quiet for longer than the retention (Kafka drops them
    from the changelog by its own retention): memory stays bounded."""
    try:
        now = time.time()
        forgotten = stories.prune(lambda raw: is_quiet(raw, now, STORY_RETENTION_SECONDS))
    except Exception:  # Faust stops the whole worker when a timer raises
        logger.exception("forgetting quiet stories failed; trying again in an hour")
        return
    if forgotten:
        logger.info("forgot %d stories quiet for over %g days", forgotten,
                    settings.story_retention_days)


@app.timer(interval=5.0)
async def export_partition_progress() -> None:
    """Lag and seconds since progress of each input partition this worker owns, so that a
    consumer that silently stops shows (a known failure mode of Faust consumers)."""
    try:
        await _export_partition_progress()
    # Faust stops the whole worker when a timer raises: metrics must never do that.
    except KafkaError as exc:  # e.g. a rebalance took a partition away between two calls
        logger.debug("partition progress not exported this round: %r", exc)
    except Exception:
        logger.exception("exporting partition progress failed; trying again in 5 s")


async def _export_partition_progress() -> None:
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
