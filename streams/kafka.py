"""Plain aiokafka clients for the CLI (replay, subscribe) and topic administration, built
from the settings in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams.settings import Settings

logger = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """No Kafka broker answers at the configured bootstrap servers."""


def connection_options(settings: Settings) -> dict[str, Any]:
    """Options every aiokafka client gets: where the brokers are."""
    return {"bootstrap_servers": settings.bootstrap_servers}


def _unavailable(settings: Settings, exc: BaseException) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"no Kafka broker answers at {settings.bootstrap_servers} ({exc}). Start one with "
        "`wirewatch broker start`, or set WIREWATCH_BOOTSTRAP_SERVERS."
    )


async def _broker_answers(settings: Settings) -> bool:
    admin = AIOKafkaAdminClient(**connection_options(settings), request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()


def broker_answers(settings: Settings) -> bool:
    """True when a broker answers a metadata request (blocking; for CLI and start-up checks)."""
    return asyncio.run(_broker_answers(settings))


async def ensure_topics(settings: Settings, names: Iterable[str]) -> list[str]:
    """Create the topics that do not exist yet, with the configured partitions; return those
    created. Existing topics are left as they are (a warning names any with fewer partitions)."""
    admin = AIOKafkaAdminClient(**connection_options(settings))
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        await admin.close()
        raise _unavailable(settings, exc) from exc
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in dict.fromkeys(names) if name not in existing]
        created = []
        for name in wanted:
            try:
                await admin.create_topics([NewTopic(
                    name=name,
                    num_partitions=settings.topic_partitions,
                    replication_factor=settings.topic_replication_factor,
                )])
                created.append(name)
            except TopicAlreadyExistsError:  # another worker created it meanwhile
                pass
        await _wait_for_leaders(admin, created)
        for description in await admin.describe_topics(sorted(existing & set(names))):
            partitions = len(description.get("partitions", []))
            if partitions < settings.topic_partitions:
                logger.warning("topic %s has %d partitions, fewer than the %d configured: "
                               "fewer workers can share it", description["topic"], partitions,
                               settings.topic_partitions)
        return created
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str],
                            timeout: float = 30.0) -> None:
    """Wait until new topics have a leader for every partition: clients that start right
    after creation otherwise see "unknown topic" for a moment."""
    deadline = asyncio.get_running_loop().time() + timeout
    pending = list(names)
    while pending:
        descriptions = await admin.describe_topics(pending)
        pending = [
            d["topic"] for d in descriptions
            if d.get("error_code") or not d.get("partitions")
            or any(p.get("leader", -1) < 0 for p in d["partitions"])
        ]
        if pending and asyncio.get_running_loop().time() > deadline:
            raise BrokerUnavailable(f"topics {pending} have no leader after {timeout:.0f}s")
        if pending:
            await asyncio.sleep(0.2)


async def partitions_of(settings: Settings, topics: list[str]) -> dict[str, list[int]]:
    """The partition numbers of each topic, asked of the broker."""
    admin = AIOKafkaAdminClient(**connection_options(settings))
    try:
        await admin.start()
        descriptions = await admin.describe_topics(topics)
    except KafkaConnectionError as exc:
        raise _unavailable(settings, exc) from exc
    finally:
        await admin.close()
    return {d["topic"]: sorted(p["partition"] for p in d.get("partitions", []))
            for d in descriptions}


async def start_producer(settings: Settings) -> AIOKafkaProducer:
    """An idempotent producer that waits for all replicas, started, or `BrokerUnavailable`."""
    producer = AIOKafkaProducer(
        **connection_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15000,
    )
    try:
        await producer.start()
    except KafkaConnectionError as exc:
        await producer.stop()
        raise _unavailable(settings, exc) from exc
    return producer


async def start_consumer(settings: Settings, topics: list[str], *,
                         from_beginning: bool) -> AIOKafkaConsumer:
    """A group-less consumer of all partitions of `topics`, started and positioned, or
    `BrokerUnavailable`. Positions are resolved before returning, so that a message produced
    after this returns is never missed by a consumer that starts "from now"."""
    consumer = AIOKafkaConsumer(
        **connection_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        isolation_level="read_committed",
    )
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        raise _unavailable(settings, exc) from exc
    partitions = [
        TopicPartition(topic, number)
        for topic, numbers in (await partitions_of(settings, topics)).items()
        for number in numbers
    ]
    consumer.assign(partitions)
    if from_beginning:
        await consumer.seek_to_beginning(*partitions)
    else:
        await consumer.seek_to_end(*partitions)
    for partition in partitions:
        await consumer.position(partition)
    return consumer
