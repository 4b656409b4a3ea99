"""The Faust app of wirewatch: the only place it is built, from the settings."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, TransportT
from faust.types.auth import CredentialsT

from streams.clients.kafka import TopicsNotReady, connection_options, ensure_topics
from streams.settings import Settings, get_settings

logger = logging.getLogger(__name__)
EXIT_STOP_TIMED_OUT = 1


class IdempotentProducer(faust_aiokafka.Producer):
    """Faust's producer is idempotent only under `exactly_once`. Wirewatch runs at least once
    and wants it too: a send retried after a broker failure must not be written twice."""

    def _settings_extra(self) -> dict[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class CommitBeforeRevokeConsumer(faust_aiokafka.Consumer):
    """Faust forgets the acknowledged offsets of revoked partitions before it commits at a
    rebalance (faust-streaming#502), so every dispatch processed since the last periodic
    commit would be processed again by the partition's next owner. Commit them first."""

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        if revoked and not self.should_stop:
            await self.commit()  # flushes the producer first: at least once still holds
        await super().on_partitions_revoked(revoked)


class WirewatchTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer
    Consumer = CommitBeforeRevokeConsumer


class WirewatchApp(faust.App):
    """A Faust app that creates every wirewatch topic before its consumer subscribes."""

    wirewatch_settings: Settings
    # Filled by streams.worker.topics: every Kafka topic the worker reads or writes.
    owned_topics: tuple[str, ...] = ()
    # Filled by streams.worker.agents: slow set-up (loading the NLP model) done before the worker
    # joins its consumer group. Faust leaves an agent that was not yet iterating its stream
    # when a rebalance came stalled on the partitions it then gets.
    warm_up: Callable[[], Awaitable[None]] | None = None

    def _new_transport(self) -> TransportT:
        return WirewatchTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> TransportT:
        return WirewatchTransport(self.conf.broker_producer, self)

    async def on_first_start(self) -> None:
        # Faust creates its data folder without parents; the state folder may not exist yet.
        self.wirewatch_settings.state_dir.mkdir(parents=True, exist_ok=True)
        await super().on_first_start()

    async def on_stop(self) -> None:
        # The stop is bounded: a worker that cannot commit (broker unreachable) would
        # otherwise retry until its orchestrator kills it, without a word.
        deadline = threading.Timer(self.wirewatch_settings.stop_timeout, self._stop_overdue)
        deadline.daemon = True
        deadline.start()
        try:
            await super().on_stop()
        finally:
            deadline.cancel()

    def _stop_overdue(self) -> None:
        """Runs in a timer thread when the stop takes too long: one line, then exit."""
        logger.error(
            "stop timed out after %gs (WIREWATCH_STOP_TIMEOUT): could not commit %s; "
            "those dispatches will be redelivered to the next worker (at least once)",
            self.wirewatch_settings.stop_timeout, uncommitted_offsets(self))
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_STOP_TIMED_OUT)

    async def on_start(self) -> None:
        await super().on_start()
        # Before the consumer subscribes: Faust only declares internal topics, and an input
        # topic created later would leave the worker idle until the next rebalance.
        try:
            created = await ensure_topics(self.wirewatch_settings, self.owned_topics)
        except TopicsNotReady as exc:
            # Retrying cannot help: say what is wrong in one line and stop.
            logger.error("cannot start: %s", exc)
            raise SystemExit(1) from None
        if created:
            logger.info("created topics: %s", ", ".join(created))
        if self.warm_up is not None:
            await self.warm_up()


def uncommitted_offsets(app: faust.App) -> str:
    """What the worker read but has not committed, per partition, for the log."""
    consumer = app._consumer  # None before the consumer exists; never created here
    if consumer is None:
        return "nothing (no consumer yet)"
    ranges = []
    # Copies: the event loop thread may change these meanwhile.
    committed = dict(getattr(consumer, "_committed_offset", {}))
    for tp, read in sorted(dict(getattr(consumer, "_read_offset", {})).items()):
        done = committed.get(tp)
        if read is not None and (done is None or read >= done):
            start = "the first offset (none committed yet)" if done is None else f"offset {done}"
            ranges.append(f"{tp.topic}[{tp.partition}] from {start} to offset {read}")
    return ", ".join(ranges) or "nothing read since the last commit"


def broker_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's credentials, made from the options every other Kafka client gets."""
    options = connection_options(settings)
    if "sasl_mechanism" in options:
        # With an SSL context Faust speaks SASL_SSL, without one SASL_PLAINTEXT.
        return faust.SASLCredentials(
            username=options["sasl_plain_username"], password=options["sasl_plain_password"],
            ssl_context=options["ssl_context"], mechanism=options["sasl_mechanism"])
    if options["ssl_context"] is not None:
        return faust.SSLCredentials(options["ssl_context"])
    return None


def create_app(settings: Settings) -> WirewatchApp:
    app = WirewatchApp(
        settings.app_id,
        broker=settings.broker_url,
        broker_credentials=broker_credentials(settings),
        # Values stay bytes through Faust: the agent decodes them itself, so that a message
        # that is not JSON reaches the dead-letter topic instead of failing in Faust.
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=False,  # ensure_topics() creates them, with our settings
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        datadir=str(settings.state_dir / "worker"),
        store="memory://",
        autodiscover=False,
        producer_acks=-1,
        producer_max_request_size=settings.max_message_bytes,
        consumer_max_fetch_size=settings.max_message_bytes,
        broker_commit_interval=settings.commit_interval,
        broker_session_timeout=settings.session_timeout,
    )
    app.wirewatch_settings = settings
    setup_prometheus_sensors(app, pattern="/metrics", name_prefix="faust")
    return app


app = create_app(get_settings())
