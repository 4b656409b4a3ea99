"""Plain aiokafka clients for the CLI (replay, subscribe) and topic administration, built
from the settings in one place."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterable
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    IllegalSaslStateError,
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    KafkaConnectionError,
    KafkaError,
    PolicyViolationError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
    for_code,
)
from aiokafka.structs import ConsumerRecord

from streams.settings import Settings

logger = logging.getLogger(__name__)


class BrokerConnectionError(RuntimeError):
    """A Kafka client cannot connect; the message says why and which setting to check."""


class BrokerUnavailable(BrokerConnectionError):
    """No Kafka broker answers at the configured bootstrap servers."""


class BrokerAuthenticationFailed(BrokerConnectionError):
    """A broker answers but the TLS handshake or the SASL login fails: retrying cannot help."""


# What aiokafka raises when a broker refuses the SASL login (or its mechanism).
_LOGIN_ERRORS = (SaslAuthenticationFailed, AuthenticationFailedError,
                 AuthenticationMethodNotSupported, UnsupportedSaslMechanismError,
                 IllegalSaslStateError)


def connection_options(settings: Settings) -> dict[str, Any]:
    """Options every aiokafka client gets: where the brokers are and how to log in.

    The only place the SASL password is revealed, to hand it to aiokafka.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "ssl_context": settings.ssl_context(),
    }
    if settings.security_protocol.startswith("SASL_"):
        password = settings.sasl_password
        options |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": password.get_secret_value() if password else None,
        }
    return options


def _redacted(settings: Settings, text: str) -> str:
    """`text` without the secrets of the settings, whatever a library put into it."""
    for secret in (settings.sasl_password, settings.ssl_key_password):
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "**********")
    return text


def _unavailable(settings: Settings, exc: BaseException) -> BrokerUnavailable:
    return BrokerUnavailable(_redacted(
        settings,
        f"no Kafka broker answers at {settings.bootstrap_servers} ({exc}). Start one with "
        "`wirewatch broker start`, or set WIREWATCH_BOOTSTRAP_SERVERS (and "
        f"WIREWATCH_SECURITY_PROTOCOL, now {settings.security_protocol}, if the brokers "
        "need TLS or SASL).",
    ))


def _login_failed(settings: Settings, server: str, exc: BaseException
                  ) -> BrokerAuthenticationFailed:
    return BrokerAuthenticationFailed(_redacted(
        settings,
        f"the Kafka broker at {server} refused the {settings.sasl_mechanism} login of user "
        f"{settings.sasl_username!r} ({exc}). Check WIREWATCH_SASL_USERNAME, "
        "WIREWATCH_SASL_PASSWORD and WIREWATCH_SASL_MECHANISM.",
    ))


def _tls_failed(settings: Settings, server: str, exc: BaseException
                ) -> BrokerAuthenticationFailed:
    return BrokerAuthenticationFailed(_redacted(
        settings,
        f"the TLS handshake with the Kafka broker at {server} failed ({exc}). Check "
        "WIREWATCH_SSL_CAFILE (the CA that signed the broker's certificate), "
        "WIREWATCH_SSL_CHECK_HOSTNAME, and that this port serves TLS.",
    ))


async def _connection_failure(settings: Settings, exc: BaseException
                              ) -> BrokerConnectionError:
    """Why a client failed to bootstrap.

    aiokafka only logs the cause and raises a bare "Unable to bootstrap" for a refused login
    as for a broker that is down. One direct connection per bootstrap server recovers the
    cause, so that a bad password or CA fails at once and says so, instead of passing for
    an outage (which Faust would retry forever).
    """
    options = connection_options(settings)
    del options["bootstrap_servers"]
    for server in (s.strip() for s in settings.bootstrap_servers.split(",")):
        host, _, port = server.rpartition(":")
        try:
            conn = await create_conn(host.strip("[]"), int(port), request_timeout_ms=10000,
                                     **options)
        except _LOGIN_ERRORS as cause:
            return _login_failed(settings, server, cause)
        except ssl.SSLError as cause:
            return _tls_failed(settings, server, cause)
        except (OSError, KafkaError, TimeoutError, ValueError):
            continue  # this one is down (or not a host:port); try the next
        conn.close()
    return _unavailable(settings, exc)


async def _broker_answers(settings: Settings) -> bool:
    admin = AIOKafkaAdminClient(**connection_options(settings), request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except KafkaConnectionError as exc:
        failure = await _connection_failure(settings, exc)
        if isinstance(failure, BrokerAuthenticationFailed):
            raise failure from exc
        return False
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()


def broker_answers(settings: Settings) -> bool:
    """True when a broker answers a metadata request (blocking; for CLI and start-up checks).

    Raises `BrokerAuthenticationFailed` when one answers but refuses the credentials: waiting
    for it would not help.
    """
    return asyncio.run(_broker_answers(settings))


class TopicsNotReady(RuntimeError):
    """Topics wirewatch needs cannot be created, or (with topic creation off) are missing or
    too small; the message names each and says what to do."""


# What to do about a topic the broker would not create, by Kafka error code.
_CREATION_HINTS = {
    TopicAuthorizationFailedError.errno:
        "this login may not create topics: grant it CREATE, or have the topics created "
        "by whoever manages them and set WIREWATCH_CREATE_TOPICS=false",
    ClusterAuthorizationFailedError.errno:
        "this login may not create topics: grant it CREATE, or have the topics created "
        "by whoever manages them and set WIREWATCH_CREATE_TOPICS=false",
    InvalidReplicationFactorError.errno:
        "set WIREWATCH_TOPIC_REPLICATION_FACTOR to at most the number of brokers",
    InvalidPartitionsError.errno: "check WIREWATCH_TOPIC_PARTITIONS",
    InvalidConfigurationError.errno:
        "the broker refuses a topic setting: check WIREWATCH_MAX_MESSAGE_BYTES against the "
        "broker's limits",
    PolicyViolationError.errno: "the cluster's topic policy refuses it; ask its operators",
}


def _creation_problems(response: Any) -> dict[str, str]:
    """The topics a CreateTopics response says were not created (an existing topic is
    fine: another worker made it meanwhile), each with the broker's reason and a hint.
    aiokafka returns these errors in the response instead of raising them."""
    problems = {}
    for entry in response.topic_errors:
        topic, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        if code in (0, TopicAlreadyExistsError.errno):
            continue
        name = for_code(code).message
        hint = _CREATION_HINTS.get(code)
        problems[topic] = (f"{name}{f' ({message})' if message else ''}"
                           f"{f'; {hint}' if hint else ''}")
    return problems


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The configuration wirewatch creates a topic with."""
    configs = {"max.message.bytes": str(settings.max_message_bytes)}
    if topic == settings.story_changelog_topic:
        # The latest state of each story, until the story is quiet for the retention.
        configs["cleanup.policy"] = "compact,delete"
        configs["retention.ms"] = str(int(settings.story_retention_days * 86_400_000))
    elif settings.is_compacted(topic):
        configs["cleanup.policy"] = "compact"
    return configs


def _create_command(settings: Settings, topic: str) -> str:
    configs = " ".join(f"--config {name}={value}"
                       for name, value in topic_configs(settings, topic).items())
    return (f"kafka-topics.sh --bootstrap-server {settings.bootstrap_servers} --create "
            f"--topic {topic} --partitions {settings.topic_partitions} --replication-factor "
            f"{settings.topic_replication_factor} {configs}")


async def ensure_topics(settings: Settings, names: Iterable[str]) -> list[str]:
    """Create the topics that do not exist yet, with the configured partitions, replication
    factor and message size limit; return those created. With topic creation off
    (WIREWATCH_CREATE_TOPICS=false), only check that they exist with the configured
    partitions. Raises `TopicsNotReady` naming every topic that cannot be created, or is
    missing or too small. Existing topics are left as they are (a warning names any with a
    smaller message size limit, or not compacted where wirewatch compacts, or, when
    creating, fewer partitions)."""
    names = list(dict.fromkeys(names))
    admin = AIOKafkaAdminClient(**connection_options(settings))
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        await admin.close()
        raise await _connection_failure(settings, exc) from exc
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in names if name not in existing]
        if wanted and not settings.create_topics:
            raise TopicsNotReady(
                f"topic creation is off (WIREWATCH_CREATE_TOPICS=false) and these topics are "
                f"missing (or this login may not see them): {', '.join(wanted)}. Create them, "
                "e.g.:\n" + "\n".join(_create_command(settings, t) for t in wanted))
        created = []
        if wanted:
            response = await admin.create_topics([NewTopic(
                name=name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs=topic_configs(settings, name),
            ) for name in wanted])
            problems = _creation_problems(response)
            if problems:
                by_reason: dict[str, list[str]] = {}
                for topic, why in problems.items():
                    by_reason.setdefault(why, []).append(topic)
                raise TopicsNotReady("; ".join(
                    f"the broker did not create {', '.join(topics)}: {why}"
                    for why, topics in by_reason.items()))
            codes = {entry[0]: entry[1] for entry in response.topic_errors}
            created = [name for name in wanted if codes.get(name, 0) == 0]
        await _wait_for_leaders(admin, created)
        await _check_partitions(admin, settings, sorted(existing & set(names)))
        await _warn_about_configs(admin, settings, sorted(existing & set(names)))
        return created
    finally:
        await admin.close()


async def _check_partitions(admin: AIOKafkaAdminClient, settings: Settings,
                            topics: list[str]) -> None:
    """Existing topics with fewer partitions than configured: fewer workers can share them.
    A warning when wirewatch manages topics (it made them so, or a user did on purpose);
    an error when topics are managed elsewhere, where the settings describe them."""
    small = {}
    for description in await admin.describe_topics(topics):
        partitions = len(description.get("partitions", []))
        if partitions < settings.topic_partitions:
            small[description["topic"]] = partitions
    if not small:
        return
    listing = ", ".join(f"{topic} ({count})" for topic, count in sorted(small.items()))
    if not settings.create_topics:
        raise TopicsNotReady(
            f"these topics have fewer partitions than WIREWATCH_TOPIC_PARTITIONS="
            f"{settings.topic_partitions}: {listing}. Add partitions, or set "
            f"WIREWATCH_TOPIC_PARTITIONS={min(small.values())} to use them as they are.")
    logger.warning("topics with fewer partitions than the %d configured (fewer workers can "
                   "share them): %s", settings.topic_partitions, listing)


async def _warn_about_configs(admin: AIOKafkaAdminClient, settings: Settings,
                              topics: list[str]) -> None:
    """Name the existing topics whose configuration falls short of what wirewatch creates:
    - a smaller message limit (topics made before it was a setting, or by hand): there, an
      oversized dispatch is refused to its producer instead of reaching the dead-letter topic;
    - not compacted where wirewatch compacts (alert topics made by an older release): there,
      a subscriber reading from the beginning gets every revision, and old alerts expire."""
    if not topics:
        return
    try:
        responses = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, topic,
                           {"max.message.bytes": None, "cleanup.policy": None})
            for topic in topics])
    except KafkaError as exc:  # e.g. no DescribeConfigs permission: not worth failing for
        logger.debug("could not read the topics' configuration: %r", exc)
        return
    small: dict[str, int] = {}
    not_compacted: list[str] = []
    for response in responses:
        for resource in response.to_object()["resources"]:
            topic = resource["resource_name"]
            for entry in resource["config_entries"]:
                name, value = entry["config_names"], entry["config_value"]
                if name == "max.message.bytes" and value \
                        and int(value) < settings.max_message_bytes:
                    small[topic] = int(value)
                if name == "cleanup.policy" and settings.is_compacted(topic) \
                        and "compact" not in (value or "").split(","):
                    not_compacted.append(topic)
    if small:
        logger.warning(
            "%s take(s) messages of at most %s bytes, fewer than WIREWATCH_MAX_MESSAGE_BYTES="
            "%d: there, larger dispatches are refused to their producer instead of "
            "dead-lettered. Raise it for each with: kafka-configs --alter --entity-type topics "
            "--entity-name TOPIC --add-config max.message.bytes=%d",
            ", ".join(sorted(small)), "/".join(sorted({str(n) for n in small.values()})),
            settings.max_message_bytes, settings.max_message_bytes)
    if not_compacted:
        logger.warning(
            "topics not compacted: %s. There, a subscriber reading from the beginning gets every "
            "revision of each alert, not the latest one, and old alerts expire. Compact each "
            "with: kafka-configs --alter --entity-type topics --entity-name TOPIC "
            "--add-config cleanup.policy=compact", ", ".join(sorted(not_compacted)))


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
        raise await _connection_failure(settings, exc) from exc
    finally:
        await admin.close()
    return {d["topic"]: sorted(p["partition"] for p in d.get("partitions", []))
            for d in descriptions}


async def start_producer(settings: Settings) -> AIOKafkaProducer:
    """An idempotent producer that waits for all replicas, started, or a
    `BrokerConnectionError` that says why not."""
    producer = AIOKafkaProducer(
        **connection_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=settings.max_message_bytes,
        request_timeout_ms=15000,
    )
    try:
        await producer.start()
    except KafkaConnectionError as exc:
        await producer.stop()
        raise await _connection_failure(settings, exc) from exc
    return producer


# Where a consumer starts in each partition, with kcat's meanings: the oldest record kept,
# the next one to come, an absolute offset (N >= 0) or N records before the end (-N).
StartOffset = Literal["beginning", "end"] | int


def _consumer_options(settings: Settings) -> dict[str, Any]:
    return {
        **connection_options(settings),
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "max_partition_fetch_bytes": settings.max_message_bytes,
        "fetch_max_bytes": max(settings.max_message_bytes, 50 * 1024 * 1024),
    }


async def start_consumer(settings: Settings, topics: list[str], *,
                         from_beginning: bool = False, offset: StartOffset | None = None
                         ) -> AIOKafkaConsumer:
    """A group-less consumer of all partitions of `topics`, started and positioned at
    `offset` (or the beginning or end), or a `BrokerConnectionError`. Positions are resolved
    before returning, so that a message produced after this returns is never missed by a
    consumer that starts at the end."""
    start: StartOffset = offset if offset is not None else (
        "beginning" if from_beginning else "end")
    consumer = AIOKafkaConsumer(**_consumer_options(settings), group_id=None,
                                auto_offset_reset="earliest" if start == "beginning"
                                else "latest")
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        raise await _connection_failure(settings, exc) from exc
    partitions = [
        TopicPartition(topic, number)
        for topic, numbers in (await partitions_of(settings, topics)).items()
        for number in numbers
    ]
    consumer.assign(partitions)
    if start == "beginning":
        await consumer.seek_to_beginning(*partitions)
    elif start == "end":
        await consumer.seek_to_end(*partitions)
    else:
        firsts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for partition in partitions:
            wanted = start if start >= 0 else ends[partition] + start
            consumer.seek(partition, min(max(wanted, firsts[partition]), ends[partition]))
    for partition in partitions:
        await consumer.position(partition)
    return consumer


async def start_group_consumer(settings: Settings, topics: list[str], group: str, *,
                               reset: Literal["beginning", "end"]) -> AIOKafkaConsumer:
    """A consumer in consumer group `group`, subscribed to `topics`, started: it resumes at
    the group's committed offsets and, where the group has none, starts at `reset`. Offsets
    are committed by the caller (auto-commit is off: commit what was handled)."""
    consumer = AIOKafkaConsumer(*topics, **_consumer_options(settings), group_id=group,
                                auto_offset_reset="earliest" if reset == "beginning"
                                else "latest")
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        raise await _connection_failure(settings, exc) from exc
    return consumer


async def read_records(settings: Settings, topics: list[str], *, until: int | None = None,
                       timeout: float = 60.0, settle: float = 0.0) -> list[ConsumerRecord]:
    """Every record of `topics` from the beginning: up to their end offsets at call time, or,
    with `until`, until that many arrived (then `settle` more seconds, to catch extras) or
    `timeout` passed; topics that do not exist yet are then waited for. A `TimeoutError`
    when the end offsets are not reached in time."""
    if until is None:
        consumer = await start_consumer(settings, topics, from_beginning=True)
    else:  # subscribed, so that a topic created meanwhile is read too
        consumer = AIOKafkaConsumer(*topics, **connection_options(settings), group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    max_partition_fetch_bytes=settings.max_message_bytes)
        await consumer.start()
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        ends = await consumer.end_offsets(list(consumer.assignment())) if until is None else {}
        while time.monotonic() < deadline:
            if until is None and all([await consumer.position(tp) >= end
                                      for tp, end in ends.items()]):
                return records
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
            if until is not None and len(records) >= until:
                deadline = min(deadline, time.monotonic() + settle)
    finally:
        await consumer.stop()
    if until is None:
        raise TimeoutError(f"could not read {topics} to their end in {timeout}s")
    return records
