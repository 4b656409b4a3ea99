"""The desk's Kafka side: read back the recent alerts and enriched dispatches, then follow the
topics, and tell the open live streams of each new alert and each new revision of one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from schemas import Alert, EnrichedDispatch, SurgeAlert
from streams.clients.alert_topics import NewAlertTopics, add_from_beginning
from streams.clients.kafka import (
    BrokerConnectionError,
    ensure_topics,
    start_consumer,
)
from streams.clients.watches import read_watch_book
from streams.desk.state import AlertBuffer, AnyAlert, DispatchCache, HeldAlert
from streams.nlp.watch_book import WatchBook
from streams.settings import Settings

logger = logging.getLogger(__name__)

@dataclass(eq=False)  # hashed by identity: each is one connection
class LiveStream:
    """One open live stream (a browser tab): the alerts to send it, in order."""

    queue: asyncio.Queue[HeldAlert] = field(
        default_factory=lambda: asyncio.Queue(maxsize=STREAM_BACKLOG))
    # Set when it fell too far behind: it gets no more, ends, and the browser reconnects
    # and catches up from the buffer.
    dropped: bool = False


# Alerts queued for one stream before it counts as stalled (a burst of a few thousand fits).
STREAM_BACKLOG = 5_000


class DeskFeed:
    """Keeps `alerts` and `dispatches` current from Kafka. `ready` is set once the history
    is read back; each alert (or surge alert) received after that, unless it repeats a
    revision already received or comes after a higher one, is put on every queue in
    `listeners`. `watched` (name -> description) grows with the alert topics created while
    it runs (a watch added), which it then follows from their beginning."""

    def __init__(self, settings: Settings, alert_topics: list[str],
                 watched: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.alert_topics = alert_topics
        self.watched = dict(watched or {})
        self.alerts = AlertBuffer(settings.desk_alerts_held)
        self.dispatches = DispatchCache(settings.desk_dispatches_held)
        self.listeners: set[LiveStream] = set()
        self.ready = asyncio.Event()
        self.skipped = 0  # records that are not valid alerts or dispatches

    async def run(self) -> None:
        """Follow the topics until cancelled (a broker outage is waited out, not fatal)."""
        await ensure_topics(self.settings, [*self.alert_topics, self.settings.topic_enriched])
        alerts = await start_consumer(self.settings, self.alert_topics,
                                      offset=-self.settings.desk_alerts_held)
        dispatches = await start_consumer(self.settings, [self.settings.topic_enriched],
                                          offset=-self.settings.desk_dispatches_held)
        try:
            await asyncio.gather(self._follow_alerts(alerts),
                                 _follow(dispatches, self._add_dispatch))
        finally:
            await asyncio.gather(alerts.stop(), dispatches.stop())

    async def _follow_alerts(self, consumer: AIOKafkaConsumer) -> None:
        history: list[AnyAlert] = []

        async def add_history(record: ConsumerRecord) -> None:
            alert = self._parse_alert(record)
            if alert is not None:
                history.append(alert)

        await _read_to_end(consumer, add_history)
        self.alerts.add_history(history)
        self.ready.set()
        logger.info("desk holds %d alerts read back from %s", len(self.alerts),
                    ", ".join(self.alert_topics))
        discovery = NewAlertTopics(self.settings, self.alert_topics)

        async def look_for_new_topics() -> None:
            found = await discovery.poll(consumer)
            if found:
                await add_from_beginning(consumer, found)
                discovery.known.update(found)
                self.alert_topics.extend(found)
                await self._describe(found)

        async def add_live(record: ConsumerRecord) -> None:
            alert = self._parse_alert(record)
            held = self.alerts.add(alert) if alert is not None else None
            if held is not None:
                for stream in list(self.listeners):
                    try:
                        stream.queue.put_nowait(held)
                    except asyncio.QueueFull:
                        stream.dropped = True
                        self.listeners.discard(stream)

        await _follow(consumer, add_live, look_for_new_topics)

    async def _describe(self, found: Iterable[str]) -> None:
        """Name the watches of newly found alert topics (with their descriptions, from the
        watches topic) for the page's topic filter."""
        names = [topic.removeprefix(self.settings.alert_topic_prefix) for topic in found]
        try:
            book = await read_watch_book(self.settings)
        except (KafkaError, BrokerConnectionError, TimeoutError) as exc:
            logger.warning("desk: could not read the watches topic (%r)", exc)
            book = WatchBook()
        for name in names:
            watch = book.watches.get(name)
            self.watched.setdefault(name, watch.description if watch else "")
        logger.info("desk follows the alert topics created meanwhile: %s", ", ".join(found))

    def _parse_alert(self, record: ConsumerRecord) -> AnyAlert | None:
        model: type[Alert] | type[SurgeAlert] = (
            SurgeAlert if record.topic == self.settings.surge_alert_topic else Alert)
        try:
            return model.model_validate_json(record.value or b"")
        except ValidationError:
            self.skipped += 1
            return None

    async def _add_dispatch(self, record: ConsumerRecord) -> None:
        try:
            dispatch = EnrichedDispatch.model_validate_json(record.value or b"")
        except ValidationError:
            self.skipped += 1
            return
        self.dispatches.add(dispatch.id, dispatch.model_dump_json().encode())


Handler = Callable[[ConsumerRecord], Awaitable[None]]


async def _read_to_end(consumer: AIOKafkaConsumer, handle: Handler) -> None:
    """Hand every record up to the end offsets as they are now to `handle`."""
    ends = await consumer.end_offsets(list(consumer.assignment()))
    while not all([await consumer.position(tp) >= end for tp, end in ends.items()]):
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                await handle(record)


async def _follow(consumer: AIOKafkaConsumer, handle: Handler,
                  between: Callable[[], Awaitable[None]] | None = None) -> None:
    """Hand every record to `handle` as it comes; `between` runs before each poll."""
    while True:
        try:
            if between is not None:
                await between()
            batches = await consumer.getmany(timeout_ms=1000)
        except KafkaError as exc:  # the broker is away: it reconnects by itself
            logger.warning("desk: reading from Kafka failed (%r); retrying", exc)
            await asyncio.sleep(1)
            continue
        for records in batches.values():
            for record in records:
                await handle(record)
