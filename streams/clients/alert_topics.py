"""Where a group-less reader of the alert topics (the desk, `wirewatch subscribe`) finds
them: those of the watches in force, the surges', and any created while it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.clients.kafka import BrokerConnectionError, connection_options, partitions_of
from streams.nlp.rules import load_definitions, watched_topics
from streams.nlp.watch_book import WatchBook
from streams.settings import SURGE_TOPIC_NAME, Settings

logger = logging.getLogger(__name__)

# How often a reader of the alert topics looks for new ones: a watch added while it runs is
# followed within this (plus one poll of at most a second).
DISCOVERY_SECONDS = 2.0
SURGE_DESCRIPTION = "Surges: a watch, or an entity, suddenly in many more stories than usual"


def alert_topics_in_force(settings: Settings, book: WatchBook) -> dict[str, str]:
    """Watch name -> its alert topic, for every watch on the watches topic and every shipped
    definition (sorted), then `surge` -> the surge alerts' topic."""
    names = sorted({*book.watches, *watched_topics()})
    return {name: settings.alert_topic(name) for name in [*names, SURGE_TOPIC_NAME]}


def watch_descriptions(settings: Settings, book: WatchBook) -> dict[str, str]:
    """Watch name (and `surge`) -> what it watches, for the names of `alert_topics_in_force`."""
    shipped = {d.topic: d.description for d in load_definitions()}
    found = {name: watch.description for name, watch in book.watches.items()}
    return {name: found.get(name, shipped.get(name, ""))
            for name in alert_topics_in_force(settings, book) if name != SURGE_TOPIC_NAME
            } | {SURGE_TOPIC_NAME: SURGE_DESCRIPTION}


async def alert_topics_on_broker(settings: Settings) -> list[str]:
    """Every topic on the broker named with the alert prefix (sorted)."""
    admin = AIOKafkaAdminClient(**connection_options(settings))
    try:
        await admin.start()
        names = await admin.list_topics()
    except KafkaError as exc:
        raise BrokerConnectionError(f"cannot list the topics at {settings.bootstrap_servers} "
                                    f"({exc})") from exc
    finally:
        await admin.close()
    return sorted(name for name in names if name.startswith(settings.alert_topic_prefix))


class NewAlertTopics:
    """Finds the alert topics created after a consumer started (the worker, or `watch add`,
    creates a watch's alert topic when it is added), by listing the broker's topics named
    with the alert prefix every `every` seconds; `known` are those already followed.

    A listing, and not aiokafka's `subscribe(pattern=...)` with a short
    `metadata_max_age_ms`: without a consumer group (the desk, and `subscribe` without
    --group), aiokafka replaces the whole assignment when a matching topic appears, which
    drops the position of every partition already read (they restart at auto_offset_reset:
    records skipped or printed again), and a topic found late would start at its end,
    missing the alerts published before it was found. Here the new topics are added from
    their beginning (all they hold is new) and the other partitions keep their positions."""

    def __init__(self, settings: Settings, known: Iterable[str],
                 every: float = DISCOVERY_SECONDS) -> None:
        self.settings = settings
        self.known = set(known)
        self.every = every
        self._next = time.monotonic() + every

    async def poll(self, consumer: AIOKafkaConsumer) -> dict[str, list[int]]:
        """The alert topics not `known`, with their partitions, when it is time to look ({}
        otherwise, or when the broker is away: it is asked again later). The caller adds
        them to `known` once it follows them (until then they are found again)."""
        now = time.monotonic()
        if now < self._next:
            return {}
        self._next = now + self.every
        try:
            prefix = self.settings.alert_topic_prefix
            fresh = sorted(name for name in await consumer.topics()
                           if name.startswith(prefix) and name not in self.known)
            if not fresh:
                return {}
            found = {topic: numbers for topic, numbers in
                     (await partitions_of(self.settings, fresh)).items() if numbers}
        except (KafkaError, BrokerConnectionError) as exc:
            logger.warning("could not look for new alert topics (%r); looking again later", exc)
            return {}
        return found  # (one without partitions yet is found at a later look)


async def add_from_beginning(consumer: AIOKafkaConsumer, found: dict[str, list[int]]) -> None:
    """Add the partitions of the `found` topics to a group-less consumer's assignment, from
    their beginning; the partitions it reads already go on from where they are."""
    positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
    new = [TopicPartition(topic, number) for topic, numbers in found.items()
           for number in numbers]
    consumer.assign([*positions, *new])  # (a new assignment: positions must be set again)
    for tp, offset in positions.items():
        consumer.seek(tp, offset)
    await consumer.seek_to_beginning(*new)
    for tp in new:
        await consumer.position(tp)
