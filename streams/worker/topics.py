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
        )

    def all(self) -> tuple[str, ...]:
        """The topics users read and write (the table's changelog is the worker's own)."""
        return (self.raw, self.dispatches, self.enriched, *self.alerts.values(),
                self.dead_letter)


names = TopicNames.from_settings(app.wirewatch_settings)
app.owned_topics = (*names.all(), names.story_changelog)

raw: TopicT = app.topic(names.raw, value_type=bytes)
dispatches: TopicT = app.topic(names.dispatches, value_type=bytes)
enriched: TopicT = app.topic(names.enriched, value_type=bytes)
dead_letter: TopicT = app.topic(names.dead_letter, value_type=bytes)
alerts: dict[str, TopicT] = {
    kafka_topic: app.topic(kafka_topic, value_type=bytes) for kafka_topic in names.alerts.values()
}

# The story states' changelog (streams.worker.story_store), written with the partition of the
# input message whose story it is.
story_changelog: TopicT = app.topic(names.story_changelog, value_type=bytes)
