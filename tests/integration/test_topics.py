"""Topic creation on the real broker: what the worker creates, and what it says about topics
it finds."""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.clients.kafka import connection_options, ensure_topics
from streams.settings import Settings


async def _max_message_bytes(settings: Settings, topic: str) -> int:
    admin = AIOKafkaAdminClient(**connection_options(settings))
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})])
        [resource] = response.to_object()["resources"]
        return int(resource["config_entries"][0]["config_value"])
    finally:
        await admin.close()


async def _create_plain_topic(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(**connection_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()


def test_topics_are_created_to_take_oversized_dispatches_to_the_dead_letter_topic(broker):
    topic = f"it-{uuid.uuid4().hex[:8]}.dispatches"
    assert asyncio.run(ensure_topics(broker, [topic])) == [topic]
    assert asyncio.run(_max_message_bytes(broker, topic)) == broker.max_message_bytes


def test_an_existing_topic_with_a_smaller_message_limit_is_named_with_the_fix(broker, caplog):
    topic = f"it-{uuid.uuid4().hex[:8]}.dispatches"
    asyncio.run(_create_plain_topic(broker, topic))  # the broker's default: about 1 MB
    with caplog.at_level(logging.WARNING, logger="streams.clients.kafka"):
        assert asyncio.run(ensure_topics(broker, [topic])) == []
    [warning] = [r.getMessage() for r in caplog.records if "max.message.bytes" in r.getMessage()]
    assert topic in warning and "1048588 bytes" in warning
    assert f"max.message.bytes={broker.max_message_bytes}" in warning
