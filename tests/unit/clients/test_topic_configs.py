"""The configuration wirewatch creates each kind of topic with."""

from __future__ import annotations

from streams.clients.kafka import topic_configs
from streams.settings import Settings


def test_alert_topics_are_compacted_and_the_story_changelog_also_expires_quiet_stories():
    settings = Settings(story_retention_days=30, max_message_bytes=8 * 1024 * 1024)
    limit = {"max.message.bytes": str(8 * 1024 * 1024)}
    assert topic_configs(settings, settings.topic_dispatches) == limit
    assert topic_configs(settings, settings.alert_topic("withdrawal")) == {
        **limit, "cleanup.policy": "compact"}
    assert topic_configs(settings, settings.story_changelog_topic) == {
        **limit, "cleanup.policy": "compact,delete", "retention.ms": str(30 * 86_400_000)}
