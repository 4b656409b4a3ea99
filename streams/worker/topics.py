"""Every Kafka topic of wirewatch, named from the settings and the watched-topic files."""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import TopicT

from streams.nlp.rules import watched_topics
from streams.settings import Settings
from streams.worker.app import app


@dataclass(frozen=True)
class TopicNames:
    raw: str
    dispatches: str
    enriched: str
    dead_letter: str
    alerts: dict[str, str]  # watched topic -> Kafka topic
    story_changelog: str
    surge_alerts: str
    surge_sightings: str
    surge_changelog: str

    @classmethod
    def from_settings(cls, settings: Settings, watched: tuple[str, ...] | None = None
                      ) -> TopicNames:
        return cls(
            raw=settings.topic_raw,
            dispatches=settings.topic_dispatches,
            enriched=settings.topic_enriched,
            dead_letter=settings.topic_dead_letter,
            alerts={name: settings.alert_topic(name) for name in watched or watched_topics()},
            story_changelog=settings.story_changelog_topic,
            surge_alerts=settings.surge_alert_topic,
            surge_sightings=settings.surge_sightings_topic,
            surge_changelog=settings.surge_changelog_topic,
        )

    def all(self) -> tuple[str, ...]:
        """The topics users read and write (the worker's own are `internal()`)."""
        return (self.raw, self.dispatches, self.enriched, *self.alerts.values(),
                self.surge_alerts, self.dead_letter)

    def internal(self) -> tuple[str, ...]:
        """The worker's own topics: its changelogs, and the sightings it counts."""
        return (self.story_changelog, self.surge_sightings, self.surge_changelog)


names = TopicNames.from_settings(app.wirewatch_settings)
app.owned_topics = (*names.all(), *names.internal())

raw: TopicT = app.topic(names.raw, value_type=bytes)
dispatches: TopicT = app.topic(names.dispatches, value_type=bytes)
enriched: TopicT = app.topic(names.enriched, value_type=bytes)
dead_letter: TopicT = app.topic(names.dead_letter, value_type=bytes)
alerts: dict[str, TopicT] = {
    kafka_topic: app.topic(kafka_topic, value_type=bytes) for kafka_topic in names.alerts.values()
}

# The story states' changelog (streams.worker.changelog_store), written with the partition of the
# input message whose story it is.
story_changelog: TopicT = app.topic(names.story_changelog, value_type=bytes)

# Surges (streams.worker.surges): the sightings to count, keyed by watch or entity; the
# counts' changelog, written with the partition of the sightings counted; the surge alerts.
surge_sightings: TopicT = app.topic(names.surge_sightings, value_type=bytes)
surge_changelog: TopicT = app.topic(names.surge_changelog, value_type=bytes)
surge_alerts: TopicT = app.topic(names.surge_alerts, value_type=bytes)
