"""The Faust app of wirewatch: the only place it is built, from the settings."""

from __future__ import annotations

import logging

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from streams.settings import Settings, get_settings

logger = logging.getLogger(__name__)


class WirewatchApp(faust.App):
    """A Faust app that creates every wirewatch topic before its consumer subscribes."""

    wirewatch_settings: Settings
    # Filled by streams.topics: every Kafka topic the worker reads or writes.
    owned_topics: tuple[str, ...] = ()

    async def on_first_start(self) -> None:
        # Faust creates its data folder without parents; the state folder may not exist yet.
        self.wirewatch_settings.state_dir.mkdir(parents=True, exist_ok=True)
        await super().on_first_start()

    async def on_start(self) -> None:
        await super().on_start()
        # Before the consumer subscribes: Faust only declares internal topics, and an input
        # topic created later would leave the worker idle until the next rebalance.
        from streams.kafka import ensure_topics

        created = await ensure_topics(self.wirewatch_settings, self.owned_topics)
        if created:
            logger.info("created topics: %s", ", ".join(created))


def create_app(settings: Settings) -> WirewatchApp:
    app = WirewatchApp(
        settings.app_id,
        broker=settings.broker_url,
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
    )
    app.wirewatch_settings = settings
    setup_prometheus_sensors(app, pattern="/metrics", name_prefix="faust")
    return app


app = create_app(get_settings())
