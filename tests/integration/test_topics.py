"""Topic creation on the real broker: what the worker creates, and what it says about topics
it finds."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.clients.kafka import connection_options, ensure_topics
from streams.settings import Settings
from streams.worker.topics import TopicNames
from tests.helpers import WIREWATCH
from tests.helpers.deployment import deployment_for


def topics_of(settings: Settings) -> list[str]:
    return list(TopicNames.from_settings(settings).all())


async def _create_topics(settings: Settings, topics: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(**connection_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1) for topic in topics])
    finally:
        await admin.close()


def _topics_exist(settings: Settings, topics: list[str]) -> bool:
    async def _list() -> set[str]:
        admin = AIOKafkaAdminClient(**connection_options(settings))
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return set(topics) <= asyncio.run(_list())


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


def test_an_impossible_replication_factor_fails_at_once_with_the_brokers_reason(deployment):
    result = deployment.run("replay", timeout=60,
                            env_extra={"WIREWATCH_TOPIC_REPLICATION_FACTOR": "3"})
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "the broker did not create " in stderr  # the topics, in the broker's order:
    assert deployment.settings.topic_dispatches in stderr
    assert "INVALID_REPLICATION_FACTOR" in stderr
    assert "only 1 broker(s) are registered" in stderr  # the broker's own words
    assert "WIREWATCH_TOPIC_REPLICATION_FACTOR" in stderr  # the setting to change


def test_with_topic_creation_off_missing_or_small_topics_are_named(broker, tmp_path):
    run_id = uuid.uuid4().hex[:8]
    managed = deployment_for(run_id, tmp_path, WIREWATCH_CREATE_TOPICS="false")
    settings = managed.settings
    worker = subprocess.run([WIREWATCH, "worker", "-l", "info"], env=managed.env,
                            capture_output=True, timeout=120, check=False)
    log = worker.stdout.decode() + worker.stderr.decode()
    assert worker.returncode != 0
    assert "topic creation is off (WIREWATCH_CREATE_TOPICS=false)" in log
    assert f"kafka-topics.sh --bootstrap-server {settings.bootstrap_servers} --create " \
           f"--topic {settings.topic_dispatches} --partitions 6" in log
    assert not _topics_exist(broker, [settings.topic_dispatches]), "it created nothing"

    # Made elsewhere, with 2 partitions: named, with the setting that accepts them.
    names = topics_of(settings)
    asyncio.run(_create_topics(broker, names, partitions=2))
    replay = managed.run("replay", timeout=60)
    assert replay.returncode == 1
    assert "fewer partitions than WIREWATCH_TOPIC_PARTITIONS=6" in replay.stderr.decode()
    assert "WIREWATCH_TOPIC_PARTITIONS=2" in replay.stderr.decode()
    # Told so, it uses them.
    replay = managed.run("replay", timeout=60, env_extra={"WIREWATCH_TOPIC_PARTITIONS": "2"})
    assert replay.returncode == 0, replay.stderr.decode()
